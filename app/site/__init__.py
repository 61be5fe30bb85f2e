"""What an administrator sets for this site (its name, the purposes of use), kept in the
database; each falls back to its setting (``MEDIATRACK_SITE_NAME`` ...) until it is set."""
