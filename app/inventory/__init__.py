"""Inventory: campaigns over a subtree of locations, sessions sweeping shelves, reads placed on
the shelf set before them, and the reconciliation of what was read against what the record
expects (see docs/inventory.md)."""
