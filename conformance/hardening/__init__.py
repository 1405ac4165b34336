"""HARD-* checks: what a security review expects on top (SHOULD); one file per rule."""
