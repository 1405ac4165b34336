"""Store backends the store's contract tests run against: each a fixture-maker by name.

A backend is a function (tmp_path) -> database setting for `open_store`, and
a second one makes another handle on the same database (another worker or
instance). SQLite always runs; PostgreSQL joins when its server is there.
"""

from __future__ import annotations

from pathlib import Path

from .postgres import postgres_database


def sqlite_database(tmp_path: Path) -> str:
    return str(tmp_path / "sessions.db")


# "postgres": a fresh database per test on the session's throwaway server
# (tests/postgres.py); skips on a machine without PostgreSQL, fails in CI.
BACKENDS = {"sqlite": sqlite_database, "postgres": postgres_database}
