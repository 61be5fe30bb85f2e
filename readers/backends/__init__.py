"""Reader backends; each imports its vendor library and is loaded only when its URL is used."""
