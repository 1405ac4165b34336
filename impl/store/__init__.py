"""The store of users, sessions and their history: one interface, a backend per database.

`open_store(database)` picks the backend from the setting: a `postgresql://`
URL opens PostgreSQL, anything else is the path of an SQLite file.
"""

from __future__ import annotations

from .base import (
    Attempts,
    CallerGone,
    Cutoffs,
    DeviceHistory,
    EndFacts,
    Event,
    EventRow,
    ListedSession,
    NewSession,
    Outcome,
    SessionRow,
    Store,
    StoreBusy,
    StoreError,
    StoreUnavailable,
    UserRow,
    describe_database,
    is_store_url,
)


def open_store(database: str) -> Store:
    """Open the store a database setting names, creating or upgrading its schema."""
    if is_store_url(database):
        from .postgres import PostgresStore

        return PostgresStore(database)
    from .sqlite import SqliteStore

    return SqliteStore(database)


__all__ = [
    "Attempts",
    "CallerGone",
    "Cutoffs",
    "DeviceHistory",
    "EndFacts",
    "Event",
    "EventRow",
    "ListedSession",
    "NewSession",
    "Outcome",
    "SessionRow",
    "Store",
    "StoreBusy",
    "StoreError",
    "StoreUnavailable",
    "UserRow",
    "describe_database",
    "is_store_url",
    "open_store",
]
