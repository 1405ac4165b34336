"""Maintenance commands for the repository (run with python -m tools.<name>)."""
