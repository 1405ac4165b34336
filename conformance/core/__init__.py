"""CORE-* checks: what the lesson teaches (MUST); one file per rule."""
