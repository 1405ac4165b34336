"""The SQLite backend of the store: one file, many threads and processes, through WAL.

Theory of operation (the guarantees of impl/store/base.py, and how SQLite keeps them)
------------------------------------------------------------------------------------
1. Every request is authenticated by one SELECT on the session's primary key
   (the SHA-256 of its token) joined to its user, whose WHERE clause is the
   whole of "alive" (`_ALIVE`, written once here): an ended or expired row
   can never be read by accident, even before the purge deletes it.
2. Every write runs in a `BEGIN IMMEDIATE` transaction, which takes SQLite's
   one write lock before reading anything. Ending actions first re-read the
   caller's session inside that transaction, so two of them never both act
   on a state that the other has changed: of two concurrent revoke-alls, the
   second to take the lock finds its caller retired and does nothing.
3. Revoke and logout mark one row ended, with why and when. Revoke-all and
   password change retire the user's generation: the user's number moves on
   and the caller's row moves with it, and `retired_generations` says why.
   Two single-row updates and one insert, whatever the number of sessions.
   A password change also moves the caller's row to a new token hash, and
   keeps the old hash in `ended_tokens`, so that the old cookie hears why.
4. Durability follows consequence. Ending sessions, changing passwords and
   creating accounts commit with synchronous=FULL: losing one of those to a
   power cut would resurrect a session its owner ended, or lose an account.
   Creating and touching sessions commit with NORMAL, which in WAL mode
   survives any process crash; a power cut can at worst forget a login.
5. Each thread has its own connection, opened once and reused; processes
   share the file through WAL with a busy timeout, so writers queue instead
   of failing. A connection that met a fault (disk full, read-only, I/O
   error, locked past the timeout) is dropped, and the next call opens a
   fresh one: a worker heals by itself when the cause is gone.
6. The schema is versioned (`PRAGMA user_version`); an older file is brought
   up to date once, under the write lock, however many processes start
   together. A current file is opened without taking any lock.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from .base import (
    EXPIRED,
    Attempts,
    CallerGone,
    LOGGED_OUT,
    PASSWORD_CHANGED,
    REVOKED,
    Cutoffs,
    DeviceHistory,
    EndFacts,
    Event,
    EventRow,
    ListedSession,
    NewSession,
    Outcome,
    SessionRow,
    StoreBusy,
    StoreUnavailable,
    UserRow,
)

# Each entry brings a file from the version before it to its own number.
MIGRATIONS: dict[int, str] = {
    1: """
CREATE TABLE IF NOT EXISTS users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    -- The email as compared: lower-cased, so Ann@x.org and ann@x.org are one account.
    email_key     TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,  -- milliseconds since the Unix epoch, UTC
    -- Moved on by revoke-all and password change: sessions of older generations are dead.
    generation    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash     BLOB PRIMARY KEY,  -- sha256(cookie token); the token itself is never stored
    id             TEXT NOT NULL UNIQUE,  -- public id, shown in the list and used to revoke
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    generation     INTEGER NOT NULL,  -- the user's generation at login; alive while still current
    ip             TEXT NOT NULL,
    user_agent     TEXT NOT NULL,
    device_name    TEXT NOT NULL,
    created_at     INTEGER NOT NULL,  -- milliseconds
    last_active_at INTEGER NOT NULL   -- milliseconds; only ever moves forward
) WITHOUT ROWID;
-- Listing, counting and revoke-all read one user's current sessions. The
-- purge, which would want an expiry index, scans instead, in the background.
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id, generation);
""",
    2: """
-- Why and when a session ended (logout, revoke, eviction); NULL while alive.
ALTER TABLE sessions ADD COLUMN end_reason TEXT;
ALTER TABLE sessions ADD COLUMN ended_at INTEGER;
-- EXT-RENAME: the owner's name for the session; EXT-NEW-DEVICE: its login's flag.
ALTER TABLE sessions ADD COLUMN name TEXT;
ALTER TABLE sessions ADD COLUMN new_device INTEGER NOT NULL DEFAULT 0;
-- Why each generation of a user was retired (revoke-all, password change).
CREATE TABLE retired_generations (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    generation INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    retired_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, generation)
) WITHOUT ROWID;
-- Tokens that stopped working while their session went on (the old token of
-- a password change), kept until the session's absolute timeout.
CREATE TABLE ended_tokens (
    token_hash     BLOB PRIMARY KEY,
    reason         TEXT NOT NULL,
    ended_at       INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    last_active_at INTEGER NOT NULL
) WITHOUT ROWID;
-- EXT-ACTIVITY: the security log. Ids are the rowid: increasing, so the
-- newest-first order and `before` paging are one index range.
CREATE TABLE events (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id          TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    type             TEXT NOT NULL,
    at               INTEGER NOT NULL,
    ip               TEXT NOT NULL,
    device_name      TEXT NOT NULL,
    session_id       TEXT,
    actor_session_id TEXT,
    count            INTEGER,
    new_device       INTEGER
);
CREATE INDEX events_by_user ON events (user_id, id);
CREATE INDEX events_by_time ON events (at);
-- EXT-NEW-DEVICE: "has this account logged in from this pair lately" is one lookup.
CREATE INDEX logins_by_device ON events (user_id, device_name, ip, at) WHERE type = 'login';
-- HARD-THROTTLE: consecutive attempts per sha256(email key, client address).
CREATE TABLE login_attempts (
    key          BLOB PRIMARY KEY,
    attempts     INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) WITHOUT ROWID;
""",
}
SCHEMA_VERSION = max(MIGRATIONS)

# Alive: not ended, recent enough, and of its user's current generation.
# The one place this backend says it; every statement below uses it.
_ALIVE = (
    "s.end_reason IS NULL AND s.last_active_at > :idle AND s.created_at > :absolute"
    " AND s.generation = (SELECT generation FROM users WHERE id = s.user_id)"
)
_RFC3339 = "'%Y-%m-%dT%H:%M:%SZ'"
_LISTED = (
    f"s.id, s.device_name, s.ip, strftime({_RFC3339}, s.created_at / 1000, 'unixepoch'),"
    f" strftime({_RFC3339}, s.last_active_at / 1000, 'unixepoch'), s.name, s.new_device"
)
# The hot path: a constant string with positional parameters, so sqlite3's
# statement cache always hits; the join reads the generation once.
_FIND_SESSION = (
    "SELECT s.id, s.user_id, u.email, s.ip, s.device_name, s.created_at, s.last_active_at"
    " FROM sessions s JOIN users u ON u.id = s.user_id"
    " WHERE s.token_hash = ? AND s.generation = u.generation AND s.end_reason IS NULL"
    " AND s.last_active_at > ? AND s.created_at > ?"
)
_CALLER = f"SELECT s.id, s.user_id, s.generation, s.created_at, s.last_active_at FROM sessions s WHERE s.token_hash = :caller AND {_ALIVE}"
_INSERT_EVENT = (
    "INSERT INTO events (user_id, type, at, ip, device_name, session_id, actor_session_id, count, new_device)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

T = TypeVar("T")

# SQLite's words for a lock that outlived the busy timeout.
_BUSY_WORDS = ("locked", "busy")


def _translated(method: Callable[..., T]) -> Callable[..., T]:
    """Turn sqlite3's faults into the store's neutral ones, and drop the connection that met them."""

    @functools.wraps(method)
    def wrapper(self: "SqliteStore", *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.OperationalError as exc:
            self.close()
            text = str(exc).lower()
            if any(word in text for word in _BUSY_WORDS):
                raise StoreBusy(str(exc)) from exc
            raise StoreUnavailable(str(exc)) from exc
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise  # our bugs, not the database's state
        except sqlite3.DatabaseError as exc:  # a corrupt or foreign file
            self.close()
            raise StoreUnavailable(str(exc)) from exc

    return wrapper


class _Caller:
    """The caller's live session, as re-read inside a write transaction."""

    __slots__ = ("id", "user_id", "generation", "created_at", "last_active_at")

    def __init__(self, row: tuple[Any, ...]) -> None:
        self.id, self.user_id, self.generation, self.created_at, self.last_active_at = row


class SqliteStore:
    """Users, sessions, the security log and login counters in one SQLite file."""

    def __init__(self, path: str, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._migrate()

    # -- connections -----------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # Autocommit mode: reads take no lock at all, and every write below
        # opens its own explicit transaction.
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=self.busy_timeout_ms / 1000)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            # Read the file through a shared memory map instead of each
            # connection's own page cache: with a million sessions, lookups
            # otherwise miss that cache and pay a pread each (1M rows were
            # 1.35x slower than 10k; with the map, ~1.05x). The price: a disk
            # I/O error on read surfaces as SIGBUS instead of an SQLite error.
            conn.execute("PRAGMA mmap_size = 268435456")
        except BaseException:
            conn.close()
            raise
        return conn

    def _conn(self) -> sqlite3.Connection:
        """Return this thread's connection, opening it on first use."""
        local = self._local
        conn = getattr(local, "conn", None)
        # A connection must not cross a fork either: reopen in a child process.
        if conn is None or local.pid != os.getpid():
            conn = local.conn = self._connect()
            local.pid = os.getpid()
        return conn

    @contextlib.contextmanager
    def _write(self, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """Run a write transaction; with `durable`, fsync the WAL on commit."""
        conn = self._conn()
        if durable:
            conn.execute("PRAGMA synchronous = FULL")
        try:
            # IMMEDIATE takes the write lock up front, so two workers never
            # deadlock upgrading read locks, and what a transaction reads
            # first is still true when it writes.
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            if durable:
                conn.execute("PRAGMA synchronous = NORMAL")

    def _migrate(self) -> None:
        conn = self._connect()
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreUnavailable(f"{self.path} has schema version {version}; this server knows {SCHEMA_VERSION}")
            if version == SCHEMA_VERSION:
                # Nothing to write: a worker starting while another process
                # holds the write lock must not wait for it, let alone fail.
                return
            # WAL is a property of the file: set once, every connection uses it.
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            # journal_size_limit keeps the WAL from staying at its peak size
            # after a checkpoint (perf-notes: it grew to 91 MB and never shrank).
            conn.execute("PRAGMA journal_size_limit = 67108864")
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Read again under the lock: another process may have upgraded
                # the file while this one waited for it.
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                for step in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in _statements(MIGRATIONS[step]):
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open {self.path}: {exc}") from exc
        finally:
            conn.close()

    def schema_version(self) -> int:
        """Return the schema version recorded in the file."""
        return self._conn().execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    @staticmethod
    def _caller(conn: sqlite3.Connection, caller: bytes, cutoffs: Cutoffs) -> _Caller:
        row = conn.execute(_CALLER, {"caller": caller, "idle": cutoffs.idle, "absolute": cutoffs.absolute}).fetchone()
        if row is None:
            raise CallerGone(caller)
        return _Caller(row)

    @staticmethod
    def _log(conn: sqlite3.Connection, user_id: str, event: Event) -> None:
        conn.execute(
            _INSERT_EVENT,
            (
                user_id,
                event.type,
                event.at,
                event.ip,
                event.device_name,
                event.session_id,
                event.actor_session_id,
                event.count,
                None if event.new_device is None else int(event.new_device),
            ),
        )

    # -- accounts --------------------------------------------------------------

    @_translated
    def add_user(self, user_id: str, email: str, email_key: str, password_hash: str, now: int) -> bool:
        try:
            with self._write(durable=True) as conn:
                conn.execute(
                    "INSERT INTO users (id, email, email_key, password_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                    (user_id, email, email_key, password_hash, now),
                )
        except sqlite3.IntegrityError:
            return False
        return True

    @_translated
    def find_user(self, email_key: str) -> UserRow | None:
        row = self._conn().execute("SELECT id, email, password_hash FROM users WHERE email_key = ?", (email_key,)).fetchone()
        return UserRow(*row) if row else None

    @_translated
    def find_user_by_id(self, user_id: str) -> UserRow | None:
        row = self._conn().execute("SELECT id, email, password_hash FROM users WHERE id = ?", (user_id,)).fetchone()
        return UserRow(*row) if row else None

    @_translated
    def replace_password_hash(self, user_id: str, old_hash: str, new_hash: str) -> bool:
        with self._write(durable=True) as conn:
            cursor = conn.execute(
                "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?", (new_hash, user_id, old_hash)
            )
            return cursor.rowcount > 0

    # -- sessions --------------------------------------------------------------

    @_translated
    def add_session(self, session: NewSession, max_live: int, cutoffs: Cutoffs, event: Event) -> None:
        params = {"user": session.user_id, "idle": cutoffs.idle, "absolute": cutoffs.absolute}
        with self._write() as conn:
            # One statement reads the generation and inserts: no revoke-all
            # can slip between the two.
            conn.execute(
                "INSERT INTO sessions (token_hash, id, user_id, generation, ip, user_agent, device_name,"
                " created_at, last_active_at, new_device)"
                " SELECT ?, ?, id, generation, ?, ?, ?, ?, ?, ? FROM users WHERE id = ?",
                (
                    session.token_hash,
                    session.id,
                    session.ip,
                    session.user_agent,
                    session.device_name,
                    session.now,
                    session.now,
                    int(session.new_device),
                    session.user_id,
                ),
            )
            (live,) = conn.execute(f"SELECT count(*) FROM sessions s WHERE s.user_id = :user AND {_ALIVE}", params).fetchone()
            if live > max_live:
                # The least recently active go; their owners hear "expired".
                conn.execute(
                    f"UPDATE sessions SET end_reason = '{EXPIRED}', ended_at = :now WHERE token_hash IN"
                    f" (SELECT s.token_hash FROM sessions s WHERE s.user_id = :user AND {_ALIVE}"
                    " ORDER BY s.last_active_at, s.created_at LIMIT :excess)",
                    {**params, "now": session.now, "excess": live - max_live},
                )
            self._log(conn, session.user_id, event._replace(session_id=session.id))

    @_translated
    def find_session(self, token_hash: bytes, cutoffs: Cutoffs) -> SessionRow | None:
        row = self._conn().execute(_FIND_SESSION, (token_hash, cutoffs.idle, cutoffs.absolute)).fetchone()
        return SessionRow(*row) if row else None

    @_translated
    def end_facts(self, token_hash: bytes) -> EndFacts | None:
        conn = self._conn()
        row = conn.execute(
            "SELECT coalesce(s.end_reason, g.reason), coalesce(s.ended_at, g.retired_at), s.created_at, s.last_active_at"
            " FROM sessions s LEFT JOIN retired_generations g ON g.user_id = s.user_id AND g.generation = s.generation"
            " WHERE s.token_hash = ?",
            (token_hash,),
        ).fetchone()
        if row is None:
            row = conn.execute(
                "SELECT reason, ended_at, created_at, last_active_at FROM ended_tokens WHERE token_hash = ?", (token_hash,)
            ).fetchone()
        return EndFacts(*row) if row else None

    @_translated
    def touch_session(self, token_hash: bytes, now: int, stale_before: int, cutoffs: Cutoffs) -> bool:
        # The condition makes the write happen at most once per interval
        # however many requests race for it, and keeps last_active_at from
        # moving backwards (now > stale_before >= the old value).
        with self._write() as conn:
            cursor = conn.execute(
                f"UPDATE sessions AS s SET last_active_at = :now"
                f" WHERE s.token_hash = :token_hash AND s.last_active_at < :stale_before AND {_ALIVE}",
                {"now": now, "token_hash": token_hash, "stale_before": stale_before, "idle": cutoffs.idle, "absolute": cutoffs.absolute},
            )
            return cursor.rowcount > 0

    @_translated
    def list_sessions(self, user_id: str, cutoffs: Cutoffs) -> list[ListedSession]:
        # SQLite formats the timestamps: a thousand sessions are two thousand
        # strftime calls, which cost ten times more in Python.
        rows = self._conn().execute(
            f"SELECT {_LISTED} FROM sessions s WHERE s.user_id = :user AND {_ALIVE}"
            " ORDER BY s.last_active_at DESC, s.created_at DESC, s.id",
            {"user": user_id, "idle": cutoffs.idle, "absolute": cutoffs.absolute},
        ).fetchall()
        return [_listed(row) for row in rows]

    @_translated
    def revoke_session(self, caller: bytes, public_id: str, cutoffs: Cutoffs, event: Event) -> Outcome:
        with self._write(durable=True) as conn:
            me = self._caller(conn, caller, cutoffs)
            # The user id is in the WHERE clause: that is the whole of the
            # ownership check, so another user's id behaves like an unknown one.
            cursor = conn.execute(
                f"UPDATE sessions AS s SET end_reason = '{REVOKED}', ended_at = :now"
                f" WHERE s.id = :id AND s.user_id = :user AND s.token_hash != :caller AND {_ALIVE}",
                {"now": event.at, "id": public_id, "user": me.user_id, "caller": caller, "idle": cutoffs.idle, "absolute": cutoffs.absolute},
            )
            if cursor.rowcount == 0:
                return Outcome.NOT_FOUND
            self._log(conn, me.user_id, event._replace(session_id=public_id, actor_session_id=me.id))
            return Outcome.DONE

    @_translated
    def rename_session(
        self, caller: bytes, public_id: str, name: str | None, cutoffs: Cutoffs, event: Event
    ) -> ListedSession | None:
        params = {"id": public_id, "name": name, "idle": cutoffs.idle, "absolute": cutoffs.absolute}
        with self._write() as conn:
            me = self._caller(conn, caller, cutoffs)
            params["user"] = me.user_id
            cursor = conn.execute(
                f"UPDATE sessions AS s SET name = :name WHERE s.id = :id AND s.user_id = :user AND {_ALIVE}", params
            )
            if cursor.rowcount == 0:
                return None
            self._log(conn, me.user_id, event._replace(session_id=public_id, actor_session_id=me.id))
            row = conn.execute(f"SELECT {_LISTED} FROM sessions s WHERE s.id = :id AND s.user_id = :user", params).fetchone()
            return _listed(row)

    @_translated
    def logout(self, token_hash: bytes, cutoffs: Cutoffs, event: Event) -> None:
        with self._write(durable=True) as conn:
            me = self._caller(conn, token_hash, cutoffs)
            conn.execute(
                f"UPDATE sessions SET end_reason = '{LOGGED_OUT}', ended_at = ? WHERE token_hash = ?", (event.at, token_hash)
            )
            self._log(conn, me.user_id, event._replace(session_id=me.id, actor_session_id=me.id))

    def _retire_generation(self, conn: sqlite3.Connection, me: _Caller, caller: bytes, cutoffs: Cutoffs, reason: str, at: int) -> int:
        """Retire the caller's generation and move the caller on; return how many others were alive."""
        (ended,) = conn.execute(
            f"SELECT count(*) FROM sessions s WHERE s.user_id = :user AND s.token_hash != :caller AND {_ALIVE}",
            {"user": me.user_id, "caller": caller, "idle": cutoffs.idle, "absolute": cutoffs.absolute},
        ).fetchone()
        conn.execute(
            "INSERT OR REPLACE INTO retired_generations (user_id, generation, reason, retired_at) VALUES (?, ?, ?, ?)",
            (me.user_id, me.generation, reason, at),
        )
        conn.execute("UPDATE users SET generation = ? WHERE id = ?", (me.generation + 1, me.user_id))
        conn.execute("UPDATE sessions SET generation = ? WHERE token_hash = ?", (me.generation + 1, caller))
        return ended

    @_translated
    def revoke_other_sessions(self, caller: bytes, cutoffs: Cutoffs, event: Event) -> int:
        with self._write(durable=True) as conn:
            me = self._caller(conn, caller, cutoffs)
            ended = self._retire_generation(conn, me, caller, cutoffs, REVOKED, event.at)
            self._log(conn, me.user_id, event._replace(actor_session_id=me.id, count=ended))
            return ended

    @_translated
    def change_password(
        self, caller: bytes, new_hash: str, new_token_hash: bytes, cutoffs: Cutoffs, event: Event
    ) -> int:
        with self._write(durable=True) as conn:
            me = self._caller(conn, caller, cutoffs)
            ended = self._retire_generation(conn, me, caller, cutoffs, PASSWORD_CHANGED, event.at)
            conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (new_hash, me.user_id))
            conn.execute(
                "INSERT OR REPLACE INTO ended_tokens (token_hash, reason, ended_at, created_at, last_active_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (caller, PASSWORD_CHANGED, event.at, me.created_at, me.last_active_at),
            )
            conn.execute("UPDATE sessions SET token_hash = ? WHERE token_hash = ?", (new_token_hash, caller))
            self._log(conn, me.user_id, event._replace(session_id=me.id, actor_session_id=me.id, count=ended))
            return ended

    # -- security log ------------------------------------------------------------

    @_translated
    def add_event(self, user_id: str, event: Event) -> None:
        with self._write() as conn:
            self._log(conn, user_id, event)

    @_translated
    def list_events(self, user_id: str, limit: int, before: str | None) -> list[EventRow]:
        rows = self._conn().execute(
            f"SELECT id, type, strftime({_RFC3339}, at / 1000, 'unixepoch'), ip, device_name, session_id,"
            " actor_session_id, count, new_device FROM events"
            " WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
            (user_id, int(before) if before is not None else 2**63 - 1, limit),
        ).fetchall()
        return [
            EventRow(str(row[0]), *row[1:8], None if row[8] is None else bool(row[8]))
            for row in rows
        ]

    @_translated
    def device_history(self, user_id: str, device_name: str, ip: str, since: int) -> DeviceHistory:
        seen, any_login = self._conn().execute(
            "SELECT EXISTS (SELECT 1 FROM events WHERE type = 'login' AND user_id = ?1 AND device_name = ?2"
            " AND ip = ?3 AND at > ?4),"
            " EXISTS (SELECT 1 FROM events WHERE type = 'login' AND user_id = ?1)",
            (user_id, device_name, ip, since),
        ).fetchone()
        return DeviceHistory(bool(seen), bool(any_login))

    # -- throttling ----------------------------------------------------------------

    @_translated
    def update_attempts(self, key: bytes, decide: Callable[[Attempts | None], Attempts]) -> Attempts:
        # BEGIN IMMEDIATE holds the write lock from the read on: no other
        # attempt on any key can slip between reading and writing.
        with self._write() as conn:
            row = conn.execute("SELECT attempts, locked_until, updated_at FROM login_attempts WHERE key = ?", (key,)).fetchone()
            old = Attempts(*row) if row else None
            new = decide(old)
            if new != old:
                conn.execute(
                    "INSERT OR REPLACE INTO login_attempts (key, attempts, locked_until, updated_at) VALUES (?, ?, ?, ?)",
                    (key, *new),
                )
            return new

    @_translated
    def clear_attempts(self, key: bytes) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM login_attempts WHERE key = ?", (key,))

    # -- maintenance -----------------------------------------------------------------

    @_translated
    def purge(self, absolute_cutoff: int, events_before: int, attempts_before: int) -> int:
        # Each batch is found by a read, which in WAL mode blocks no one, and
        # deleted in its own short transaction, so a login or a revoke never
        # waits behind a purge of a million rows. The DELETE re-checks the
        # condition: nothing still owed is ever deleted.
        return (
            self._purge("sessions", "token_hash", "created_at <= ?", absolute_cutoff)
            + self._purge("ended_tokens", "token_hash", "created_at <= ?", absolute_cutoff)
            + self._purge("retired_generations", "rowid", "retired_at <= ?", absolute_cutoff, rowid=False)
            + self._purge("events", "id", "at <= ?", events_before)
            + self._purge("login_attempts", "key", "max(updated_at, locked_until) <= ?", attempts_before)
        )

    def _purge(self, table: str, key: str, condition: str, bound: int, batch: int = 500, rowid: bool = True) -> int:
        conn = self._conn()
        total = 0
        if not rowid:  # no single-column key: small table, one statement
            with self._write() as writer:
                return writer.execute(f"DELETE FROM {table} WHERE {condition}", (bound,)).rowcount
        while True:
            doomed = [row[0] for row in conn.execute(f"SELECT {key} FROM {table} WHERE {condition} LIMIT ?", (bound, batch))]
            if not doomed:
                return total
            marks = ",".join("?" * len(doomed))
            with self._write() as writer:
                total += writer.execute(
                    f"DELETE FROM {table} WHERE {key} IN ({marks}) AND {condition}", (*doomed, bound)
                ).rowcount
            if len(doomed) < batch:
                return total

    @_translated
    def checkpoint(self) -> None:
        """Copy the WAL back into the database and truncate it."""
        self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def _listed(row: tuple[Any, ...]) -> ListedSession:
    return ListedSession(*row[:6], bool(row[6]))


def _statements(script: str) -> list[str]:
    """Split a migration into statements: comments dropped, then split at semicolons (none in literals)."""
    return [s.strip() for s in re.sub(r"--[^\n]*", "", script).split(";") if s.strip()]
