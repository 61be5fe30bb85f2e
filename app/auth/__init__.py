"""Who is calling (staff token or station key) and whether the permission table lets them."""
