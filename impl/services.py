"""What the routes and pages of one app share: its settings, its store and the policy above it.

Its own module so that impl/routes.py and impl/pages.py can name it without
importing impl/app.py, which imports them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .accounts import Accounts
from .config import Config
from .sessions import SessionManager
from .store import Store


@dataclass(frozen=True)
class Services:
    """What the routes need, built once per app."""

    config: Config
    store: Store
    accounts: Accounts
    sessions: SessionManager
