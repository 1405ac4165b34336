"""The Sessions page (issue 4): HTML shell, styles and script over the same JSON API."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .app import JsonBottle, Services


def install(app: "JsonBottle", services: "Services") -> None:
    """Add the page routes to `app` (none yet)."""
