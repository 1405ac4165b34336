"""A database made by any earlier version of the server opens in this one, upgraded, with nothing lost.

tests/schemas/ holds every distinct schema the project's history has had,
verbatim from git (`git log -- impl/store.py impl/store/`): on SQLite, two
schemas without generations and one with them, all three recorded as
user_version 1, then version 2; on PostgreSQL, version 1, unchanged since
the backend was written. Each test fills one with the rows that version
could hold (users, live sessions, and on the later ones an ended session,
retired generations, an ended token, events, a throttle counter), opens it
with today's store, and checks through public verbs that every user,
session and event is there and behaves: live sessions authenticate, ended
ones say why, revoke-all works on the upgraded rows. Row counts of every
old table are compared too.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import psycopg
import pytest

from impl import Config
from impl.sessions import Client, SessionManager
from impl.store import open_store

from . import postgres

SCHEMAS = Path(__file__).parent / "schemas"
NOW = 1_800_000_000.0  # the test's clock, seconds
MS = int(NOW * 1000)
HERE = Client.of("127.0.0.1", "curl/8")


def token(n: int) -> str:
    return f"{n:043d}"  # well formed: 43 url-safe characters


def digest(n: int) -> bytes:
    return hashlib.sha256(token(n).encode()).digest()


USERS = [("u1", "Ann@example.com", "ann@example.com", "scrypt$hash-of-ann"),
         ("u2", "bob@example.com", "bob@example.com", "scrypt$hash-of-bob")]
# token number, public id, user: alive at NOW on every schema.
LIVE = [(1, "pub-1", "u1"), (2, "pub-2", "u1"), (3, "pub-3", "u2")]


def rows_before_generations(p: str) -> list[tuple[str, tuple]]:
    users = [(f"INSERT INTO users (id, email, email_key, password_hash, created_at) VALUES ({p}, {p}, {p}, {p}, {p})",
              (*u, MS - 86_400_000)) for u in USERS]
    sessions = [(f"INSERT INTO sessions (token_hash, id, user_id, ip, user_agent, device_name, created_at,"
                 f" last_active_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})",
                 (digest(n), pid, uid, "127.0.0.1", "curl/8", "curl", MS - 3_600_000, MS - 60_000))
                for n, pid, uid in LIVE]
    return users + sessions


def rows_with_generations(p: str, full: bool) -> list[tuple[str, tuple]]:
    users = [(f"INSERT INTO users (id, email, email_key, password_hash, created_at, generation)"
              f" VALUES ({p}, {p}, {p}, {p}, {p}, {p})", (*u, MS - 86_400_000, 1)) for u in USERS]
    sessions = [(f"INSERT INTO sessions (token_hash, id, user_id, generation, ip, user_agent, device_name, created_at,"
                 f" last_active_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})",
                 (digest(n), pid, uid, 1, "127.0.0.1", "curl/8", "curl", MS - 3_600_000, MS - 60_000))
                for n, pid, uid in LIVE]
    # Retired with generation 0 by a revoke-all.
    sessions.append((f"INSERT INTO sessions (token_hash, id, user_id, generation, ip, user_agent, device_name,"
                     f" created_at, last_active_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})",
                     (digest(4), "pub-4", "u1", 0, "10.0.0.1", "curl/8", "curl", MS - 7_200_000, MS - 7_000_000)))
    if not full:
        return users + sessions
    later = [
        (f"INSERT INTO retired_generations (user_id, generation, reason, retired_at) VALUES ({p}, {p}, {p}, {p})",
         ("u1", 0, "revoked", MS - 6_000_000)),
        (f"INSERT INTO sessions (token_hash, id, user_id, generation, ip, user_agent, device_name, created_at,"
         f" last_active_at, end_reason, ended_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})",
         (digest(5), "pub-5", "u2", 1, "10.0.0.2", "curl/8", "curl", MS - 3_000_000, MS - 2_000_000,
          "logged_out", MS - 1_000_000)),
        (f"INSERT INTO ended_tokens (token_hash, reason, ended_at, created_at, last_active_at)"
         f" VALUES ({p}, {p}, {p}, {p}, {p})", (digest(6), "password_changed", MS - 500_000, MS - 900_000, MS - 600_000)),
        (f"INSERT INTO login_attempts (key, attempts, locked_until, updated_at) VALUES ({p}, {p}, {p}, {p})",
         (b"k" * 32, 3, 0, MS - 1000)),
    ]
    events = [(f"INSERT INTO events (user_id, type, at, ip, device_name, session_id, actor_session_id, count,"
               f" new_device) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})",
               (uid, "login", MS - 3_600_000 + i, "127.0.0.1", "curl", pid, None, None, False))
              for i, (_, pid, uid) in enumerate(LIVE)]
    return users + sessions + later + events


def check_upgraded(database: str, full: bool, counts_before: dict[str, int], count) -> None:
    """Open with today's store and check, through public verbs, that nothing was lost."""
    store = open_store(database)
    try:
        manager = SessionManager(store, Config(db=database), clock=lambda: NOW)
        for uid, email, key, password_hash in USERS:
            assert store.find_user(key) == (uid, email, password_hash)
        live = {n: manager.authenticate(token(n)) for n, _, _ in LIVE}
        for n, pid, uid in LIVE:
            assert live[n] is not None and (live[n].id, live[n].user_id) == (pid, uid), n
        assert sorted(s.id for s in manager.list_for_user("u1")) == ["pub-1", "pub-2"]
        if full:
            assert manager.why_not(token(4)) == "revoked"
            assert manager.why_not(token(5)) == "logged_out"
            assert manager.why_not(token(6)) == "password_changed"
            assert len(store.list_events("u1", 100, None)) == 2
        for table, before in counts_before.items():
            assert count(table) == before, table
        # The upgraded rows take part in today's actions.
        assert manager.revoke_others(live[1], HERE) == 1
        assert manager.authenticate(token(2)) is None and manager.why_not(token(2)) == "revoked"
        assert manager.authenticate(token(1)) is not None
        assert manager.authenticate(manager.start("u2", HERE)) is not None
    finally:
        store.close()


SQLITE_SCHEMAS = {
    "sqlite-1-27fb394.sql": (1, rows_before_generations, False),
    "sqlite-1-bfd84ef.sql": (1, rows_before_generations, False),
    "sqlite-1-2d4892f.sql": (1, lambda p: rows_with_generations(p, False), False),
    "sqlite-2-a905714.sql": (2, lambda p: rows_with_generations(p, True), True),
}


@pytest.mark.parametrize("schema", sorted(SQLITE_SCHEMAS))
def test_an_sqlite_file_of_every_earlier_schema_is_upgraded_losing_nothing(tmp_path, schema):
    version, rows, full = SQLITE_SCHEMAS[schema]
    path = str(tmp_path / "old.db")
    with sqlite3.connect(path) as conn:
        conn.executescript((SCHEMAS / schema).read_text())
        for statement, params in rows("?"):
            conn.execute(statement, params)
        conn.execute(f"PRAGMA user_version = {version}")
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                             " AND name NOT LIKE 'sqlite_%'")]
        before = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    conn.close()

    def count(table: str) -> int:
        with sqlite3.connect(path) as c:
            return c.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    check_upgraded(path, full, before, count)


def test_a_postgres_database_of_every_earlier_schema_is_upgraded_losing_nothing():
    database = postgres.postgres_database()
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute((SCHEMAS / "postgres-1-eae68cd.sql").read_text())
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
                     " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        conn.execute("INSERT INTO schema_version (version) VALUES (1)")
        for statement, params in rows_with_generations("%s", True):
            conn.execute(statement, params)
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                                             " AND tablename != 'schema_version'")]
        before = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}

    def count(table: str) -> int:
        with psycopg.connect(database) as c:
            return c.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    check_upgraded(database, True, before, count)
