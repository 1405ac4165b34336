"""Black-box HTTP conformance suite for the sessions API contract (docs/sessions-api.md)."""

__version__ = "0.1.0"
