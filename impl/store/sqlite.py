"""The SQLite backend of the store: one file, many threads and processes, through WAL.

The verbs are impl/store/sql.py's, written once for every backend; this
module holds SQLite's dialect, its connections, faults, schema and purge.

Theory of operation (the guarantees of impl/store/base.py, and how SQLite keeps them)
------------------------------------------------------------------------------------
1. Every request is authenticated by one SELECT on the session's primary key
   (the SHA-256 of its token) joined to its user, whose WHERE clause is the
   whole of "alive" (written once, in impl/store/sql.py): an ended or expired
   row can never be read by accident, even before the purge deletes it.
2. Every write runs in a `BEGIN IMMEDIATE` transaction, which takes SQLite's
   one write lock before reading anything. Ending actions first re-read the
   caller's session inside that transaction, so two of them never both act
   on a state that the other has changed: of two concurrent revoke-alls, the
   second to take the lock finds its caller retired and does nothing. A login
   inserts its session only if the password hash it checked is still the
   user's, read in the transaction that inserts it, under the same lock.
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
   of failing. A fault (disk full, read-only, I/O error, locked past the
   timeout) drops every connection of the process, not only the one that
   met it: SQLite shares one map of the WAL index among all connections of
   a process to a file, and a connection opened while the file was
   read-only keeps that map read-only for all of them. A reader that never
   writes never faults, so the writer's fault resets it: idle connections
   are closed at once, busy ones reopen at their next call. A worker heals
   by itself when the cause is gone.
6. The schema is versioned (`PRAGMA user_version`); an older file is brought
   up to date once, under the write lock, however many processes start
   together. A current file is opened without taking any lock.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from typing import Any

from .base import StoreBusy, StoreError, StoreUnavailable
from .sql import Dialect, SqlStore, as_is, translated

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
    3: """
-- A login_failed event stands for `count` failures from its address; the last at last_at (ms).
ALTER TABLE events ADD COLUMN last_at INTEGER;
-- Folding a failure into its event reads the account's recent failures only.
CREATE INDEX failed_logins ON events (user_id, at) WHERE type = 'login_failed';
""",
}
SCHEMA_VERSION = max(MIGRATIONS)

# The first two releases wrote user_version 1 over a schema without
# generations (revoke-all deleted rows then): bring such a file to the
# version 1 that migration 2 builds on, keeping every row. Each session
# gets generation 0, as its user does, so what was alive stays alive. The
# extra indexes of the first release go: the one on last_active_at cost a
# write on every touch.
_BEFORE_GENERATIONS = """
ALTER TABLE users ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
DROP INDEX IF EXISTS sessions_by_user;
DROP INDEX IF EXISTS sessions_by_created;
DROP INDEX IF EXISTS sessions_by_last_active;
CREATE INDEX sessions_by_user ON sessions (user_id, generation);
"""

# How SQLite spells the transaction scripts of impl/store/sql.py. Alive reads
# the user's generation in a subquery on its primary key, so a statement over
# `sessions s` needs no join; strftime formats the times.
DIALECT = Dialect(
    compile=as_is,
    positional="?",
    live_from="sessions s",
    update_join="",
    current_generation="s.generation = (SELECT generation FROM users WHERE id = s.user_id)",
    # BEGIN IMMEDIATE already holds the file's one write lock: no row lock to spell.
    lock=lambda alias: "",
    rfc3339=lambda column: f"strftime('%Y-%m-%dT%H:%M:%SZ', {column} / 1000, 'unixepoch')",
    greatest="max",
    failed_login_lock="",
)

# SQLite's words for a lock that outlived the busy timeout.
_BUSY_WORDS = ("locked", "busy")


class _Slot:
    """One thread's connection, the process it was opened in, and the reset it has seen."""

    __slots__ = ("conn", "pid", "epoch", "lock", "__weakref__")

    def __init__(self) -> None:
        self.conn: sqlite3.Connection | None = None
        self.pid = 0
        self.epoch = -1
        # Re-entrant: a store call made inside another on the same thread
        # must not wait for itself.
        self.lock = threading.RLock()


# This process's id, kept up to date across forks: os.getpid() is a system
# call, and the connection check below runs on every read.
_PID = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, os.getpid()))


def _pid() -> int:
    return _PID[0]


class SqliteStore(SqlStore):
    """Users, sessions, the security log and login counters in one SQLite file."""

    dialect = DIALECT

    def __init__(self, path: str, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        # Every thread's slot, so that a fault can reach them all; a slot
        # goes with its thread.
        self._slots: weakref.WeakSet[_Slot] = weakref.WeakSet()
        self._slots_lock = threading.Lock()
        self._epoch = 0
        self._migrate()
        super().__init__()

    # -- connections -----------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # Autocommit mode: reads take no lock at all, and every write below
        # opens its own explicit transaction.
        # Used by one thread only; check_same_thread=False lets a fault on
        # another thread close it while it is idle (_reset_all).
        conn = sqlite3.connect(
            self.path, isolation_level=None, timeout=self.busy_timeout_ms / 1000, check_same_thread=False
        )
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

    def _slot(self) -> _Slot:
        slot = getattr(self._local, "slot", None)
        if slot is None:
            slot = self._local.slot = _Slot()
            with self._slots_lock:
                self._slots.add(slot)
        return slot

    def _conn(self) -> sqlite3.Connection:
        """Return this thread's connection, opening it on first use and after a reset."""
        slot = self._slot()
        conn = slot.conn
        # A connection must not cross a fork either: reopen in a child process.
        pid = _pid()
        if conn is None or slot.epoch != self._epoch or slot.pid != pid:
            if conn is not None and slot.pid == pid:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            slot.conn = None
            slot.epoch = self._epoch
            conn = slot.conn = self._connect()
            slot.pid = pid
        return conn

    def _reset_all(self) -> None:
        """After a fault: drop every connection of this process (see point 5)."""
        self._epoch += 1
        with self._slots_lock:
            slots = list(self._slots)
        pid = os.getpid()
        for slot in slots:
            # A slot in use elsewhere is left to reopen at its next call
            # (its epoch is stale); closing it under its thread would break
            # the statement running there.
            if not slot.lock.acquire(blocking=False):
                continue
            try:
                conn, slot.conn = slot.conn, None
                if conn is not None and slot.pid == pid:
                    with contextlib.suppress(sqlite3.Error):
                        conn.close()
            finally:
                slot.lock.release()

    @contextlib.contextmanager
    def _write(self, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """Run a write transaction; with `durable`, fsync the WAL on commit."""
        with self._slot().lock:
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

    # Each read, each write transaction and each maintenance run holds its
    # thread's slot lock while it uses the connection: "in use" to a reset
    # from another thread, which then leaves that connection to reopen at
    # its next call instead of closing it under a running statement.

    def _fetchone(self, statement: str, params: dict[str, Any] | tuple[Any, ...]) -> Any:
        # Autocommit: a read takes no lock on the file and waits for no writer (WAL).
        with self._slot().lock:
            return self._conn().execute(statement, params).fetchone()

    def _fetchall(self, statement: str, params: dict[str, Any]) -> list[Any]:
        with self._slot().lock:
            return self._conn().execute(statement, params).fetchall()

    def _fault(self, exc: Exception) -> StoreError | None:
        if isinstance(exc, (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)):
            return None  # our bugs, not the database's state
        if not isinstance(exc, sqlite3.DatabaseError):
            return None
        # Every connection of the process goes (point 5); the next call opens a fresh one.
        self._reset_all()
        if isinstance(exc, sqlite3.OperationalError) and any(word in str(exc).lower() for word in _BUSY_WORDS):
            return StoreBusy(str(exc))
        # Disk full, read-only, I/O error, or a corrupt or foreign file.
        return StoreUnavailable(str(exc))

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
            # after a checkpoint (measured under load without it: 91 MB, never shrinking).
            conn.execute("PRAGMA journal_size_limit = 67108864")
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Read again under the lock: another process may have upgraded
                # the file while this one waited for it.
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                users = [row[1] for row in conn.execute("PRAGMA table_info(users)")]
                if version == 1 and "generation" not in users:
                    for statement in _statements(_BEFORE_GENERATIONS):
                        conn.execute(statement)
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

    @translated
    def schema_version(self) -> int:
        """Return the schema version recorded in the file."""
        return self._fetchone("PRAGMA user_version", ())[0]

    def upgrade_in_progress(self) -> bool:
        """False: an SQLite file is upgraded in one write transaction, by a server before it listens,
        and readers keep seeing the version before it until it commits."""
        return False

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        slot = getattr(self._local, "slot", None)
        conn = slot.conn if slot is not None else None
        if conn is not None:
            slot.conn = None
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    # -- maintenance -----------------------------------------------------------------

    @translated
    def purge(self, absolute_cutoff: int, events_before: int, attempts_before: int) -> int:
        # Each batch is found by a read, which in WAL mode blocks no one, and
        # deleted in its own short transaction, so a login or a revoke never
        # waits behind a purge of a million rows. The DELETE re-checks the
        # condition: nothing still owed is ever deleted.
        with self._slot().lock:
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

    @translated
    def checkpoint(self) -> None:
        """Copy the WAL back into the database and truncate it."""
        with self._slot().lock:
            self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def _statements(script: str) -> list[str]:
    """Split a migration into statements: comments dropped, then split at semicolons (none in literals)."""
    return [s.strip() for s in re.sub(r"--[^\n]*", "", script).split(";") if s.strip()]
