"""Reference server of the session-management API: see docs/sessions-api.md."""

from .app import create_app
from .config import Config

__all__ = ["Config", "create_app"]
