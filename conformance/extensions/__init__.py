"""EXT-* checks: the account-security lifecycle (MAY), run at --level extensions; one file per rule."""
