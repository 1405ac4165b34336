"""The one store: users and sessions in SQLite. The only module that speaks SQL.

Theory of operation
-------------------
1. There is exactly one copy of every session: a row of `sessions`. Every
   request is authenticated by reading that row, in the same SELECT that
   decides whether it is still alive, so an ended session is refused on the
   very next request, in every thread and every worker process. (The lesson
   kept a second, in-memory map beside the database; its revoke-all cleared
   one copy and left live sessions in the other. There is no cache here to
   fall out of step.)
2. Logout and revoke delete the row. Revoke-all retires a generation: each
   user has a generation number, each session carries the one it was created
   in, and only sessions of the user's current generation are alive. Signing
   out everywhere else is one UPDATE that moves the user's generation on and
   one that moves the current session along with it: constant time however
   many sessions end (10,000 rows deleted took ~0.4 s, holding the write lock
   all along), atomic (a login racing with it is either before, and dies, or
   after, and lives), and the dead rows are deleted later by the purge.
3. The row is keyed by the SHA-256 of the cookie token, never the token: a
   leaked database file holds no session anyone can use. The `id` shown to
   users is a separate random public identifier.
4. Expiry, by time or by generation, is decided inside each SELECT, from cut-offs the caller computes
   (policy lives in sessions.py): an expired row can never be read by
   accident, even before the purge deletes it.
5. Deletes are idempotent: revoking twice, or purging what a revoke already
   removed, is harmless.
6. Each thread has its own connection (sqlite3 connections must not be shared
   across threads), opened once and reused; processes share the file through
   WAL with a busy timeout, so writers queue instead of failing.
7. Durability follows consequence. Ending sessions (logout, revoke,
   revoke-all) and creating accounts commit with synchronous=FULL: losing one
   of those to a power cut would resurrect a session its owner ended, or lose
   an account. Creating and touching sessions commit with NORMAL, which in WAL
   mode survives any process crash; a power cut can at worst forget a login
   (the user logs in again) or a last-active time.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from typing import NamedTuple

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    -- The email as compared: lower-cased, so Ann@x.org and ann@x.org are one account.
    email_key     TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,  -- milliseconds since the Unix epoch, UTC
    -- Moved on by revoke-all: sessions of older generations are dead.
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

-- Listing and revoke-all read one user's current sessions, the purge its
-- retired ones. This is the only secondary index besides the public id's:
-- each one more is written on every login and revoke, and one on
-- last_active_at on every touch too. The purge of expired sessions, which
-- would want an expiry index, scans instead: in the background, not holding
-- the write lock while it reads (see purge_expired).
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id, generation);
"""

# Columns of a session as the policy layer sees it.
_SESSION_COLUMNS = "s.id, s.user_id, u.email, s.ip, s.device_name, s.created_at, s.last_active_at"
# Alive: recent enough, and of its user's current generation.
_ALIVE = (
    "s.last_active_at > :idle_cutoff AND s.created_at > :absolute_cutoff"
    " AND s.generation = (SELECT generation FROM users WHERE id = s.user_id)"
)
_RFC3339 = "'%Y-%m-%dT%H:%M:%SZ'"
_LIST_SESSIONS = (
    f"SELECT id, device_name, ip, strftime({_RFC3339}, created_at / 1000, 'unixepoch'),"
    f" strftime({_RFC3339}, last_active_at / 1000, 'unixepoch')"
    " FROM sessions WHERE user_id = ? AND generation = (SELECT generation FROM users WHERE id = ?)"
    " AND last_active_at > ? AND created_at > ?"
    " ORDER BY last_active_at DESC, created_at DESC, id"
)
_FIND_SESSION = (
    f"SELECT {_SESSION_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id"
    " WHERE s.token_hash = ? AND s.generation = u.generation AND s.last_active_at > ? AND s.created_at > ?"
)


# Rows are NamedTuples: built on every request, and a tuple from sqlite3
# becomes one for a fraction of a frozen dataclass's cost.
class UserRow(NamedTuple):
    id: str
    email: str
    password_hash: str


class SessionRow(NamedTuple):
    id: str
    user_id: str
    email: str
    ip: str
    device_name: str
    created_at: int
    last_active_at: int


class ListedSession(NamedTuple):
    """A session as listed to its owner: no token, not even its hash; RFC 3339 UTC times."""

    id: str
    device_name: str
    ip: str
    created_at: str
    last_active_at: str


class Cutoffs(NamedTuple):
    """A session is alive when last active after `idle` and created after `absolute` (ms)."""

    idle: int
    absolute: int

    def params(self) -> dict[str, int]:
        return {"idle_cutoff": self.idle, "absolute_cutoff": self.absolute}


class SqliteStore:
    """Users and sessions in one SQLite file; safe from many threads and processes."""

    def __init__(self, path: str, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        self._apply_schema()

    # -- connections ---------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # Autocommit mode: reads take no lock at all, and every write below
        # opens its own explicit transaction.
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=self.busy_timeout_ms / 1000)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        # Read the file through a shared memory map instead of each
        # connection's own 2 MiB page cache: with a million sessions, lookups
        # otherwise miss that cache and pay a pread each (1M rows were 1.35x
        # slower than 10k; with the map, ~1.05x). Every thread and worker
        # shares the OS page cache this way, at no memory cost per
        # connection. Rails 8 ships SQLite with the same setting. The price:
        # a disk I/O error surfaces as SIGBUS instead of an SQLite error.
        conn.execute("PRAGMA mmap_size = 268435456")
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
            # deadlock upgrading read locks; the busy timeout queues them.
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            if durable:
                conn.execute("PRAGMA synchronous = NORMAL")

    def _apply_schema(self) -> None:
        conn = self._connect()
        try:
            # WAL is a property of the file: set once, every connection uses it.
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            # journal_size_limit keeps the WAL from staying at its peak size
            # after a checkpoint (perf-notes: it grew to 91 MB and never shrank).
            conn.execute("PRAGMA journal_size_limit = 67108864")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} has schema version {version}; this server knows {SCHEMA_VERSION}"
                )
            if version == SCHEMA_VERSION:
                # Nothing to write: a worker starting while another process
                # holds the write lock (a long checkpoint, a bulk load) must
                # not wait for it, let alone fail.
                return
            # One transaction; IF NOT EXISTS makes a race between two
            # starting processes harmless.
            conn.executescript(f"BEGIN IMMEDIATE; {SCHEMA}; PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
        finally:
            conn.close()

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- users ---------------------------------------------------------------

    def add_user(self, user_id: str, email: str, email_key: str, password_hash: str, now_ms: int) -> bool:
        """Insert a user; return False when the email key is taken."""
        try:
            with self._write(durable=True) as conn:
                conn.execute(
                    "INSERT INTO users (id, email, email_key, password_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                    (user_id, email, email_key, password_hash, now_ms),
                )
        except sqlite3.IntegrityError:
            return False
        return True

    def find_user(self, email_key: str) -> UserRow | None:
        """Return the user with this email key, or None."""
        row = (
            self._conn()
            .execute("SELECT id, email, password_hash FROM users WHERE email_key = ?", (email_key,))
            .fetchone()
        )
        return UserRow(*row) if row else None

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace a user's stored hash (after a change of hashing parameters)."""
        with self._write(durable=True) as conn:
            conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))

    # -- sessions ------------------------------------------------------------

    def add_session(
        self,
        token_hash: bytes,
        public_id: str,
        user_id: str,
        ip: str,
        user_agent: str,
        device_name: str,
        now_ms: int,
    ) -> None:
        """Insert a new session, created and last active at `now_ms`, in the user's current generation."""
        with self._write() as conn:
            # One statement reads the generation and inserts: no revoke-all
            # can slip between the two.
            conn.execute(
                "INSERT INTO sessions (token_hash, id, user_id, generation, ip, user_agent, device_name,"
                " created_at, last_active_at) SELECT ?, ?, id, generation, ?, ?, ?, ?, ? FROM users WHERE id = ?",
                (token_hash, public_id, ip, user_agent, device_name, now_ms, now_ms, user_id),
            )

    def find_session(self, token_hash: bytes, cutoffs: Cutoffs) -> SessionRow | None:
        """Return the live session with this token hash, or None.

        The hot path of every authenticated request: one primary-key lookup
        joined to the user's primary key, with positional parameters and a
        constant SQL string so sqlite3's statement cache always hits.
        """
        row = self._conn().execute(_FIND_SESSION, (token_hash, cutoffs.idle, cutoffs.absolute)).fetchone()
        return SessionRow(*row) if row else None

    def touch_session(self, token_hash: bytes, now_ms: int, stale_before_ms: int, cutoffs: Cutoffs) -> bool:
        """Set last_active_at to `now_ms` if it is older than `stale_before_ms`.

        The condition makes the write happen at most once per interval however
        many requests race for it, and keeps last_active_at from ever moving
        backwards (now_ms > stale_before_ms >= the old value). An ended or
        expired session is never revived.
        """
        with self._write() as conn:
            cursor = conn.execute(
                f"UPDATE sessions AS s SET last_active_at = :now"
                f" WHERE s.token_hash = :token_hash AND s.last_active_at < :stale_before AND {_ALIVE}",
                {"now": now_ms, "token_hash": token_hash, "stale_before": stale_before_ms, **cutoffs.params()},
            )
            return cursor.rowcount > 0

    def list_sessions(self, user_id: str, cutoffs: Cutoffs) -> list["ListedSession"]:
        """Return the user's live sessions, most recently active first.

        SQLite formats the timestamps: a user with a thousand sessions is
        two thousand strftime calls, which cost ten times more in Python.
        """
        rows = self._conn().execute(_LIST_SESSIONS, (user_id, user_id, cutoffs.idle, cutoffs.absolute)).fetchall()
        return list(map(ListedSession._make, rows))

    def delete_session(self, user_id: str, public_id: str, cutoffs: Cutoffs) -> bool:
        """Delete the user's live session with this public id; False if there is none.

        The user id is part of the WHERE clause: that is the whole of the
        ownership check, so another user's id behaves exactly like an unknown one.
        """
        with self._write(durable=True) as conn:
            cursor = conn.execute(
                f"DELETE FROM sessions AS s WHERE s.id = :id AND s.user_id = :user_id AND {_ALIVE}",
                {"id": public_id, "user_id": user_id, **cutoffs.params()},
            )
            return cursor.rowcount > 0

    def delete_session_by_token(self, token_hash: bytes) -> bool:
        """Delete the session with this token hash (logout); False if there is none."""
        with self._write(durable=True) as conn:
            cursor = conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))
            return cursor.rowcount > 0

    def delete_other_sessions(self, user_id: str, keep_token_hash: bytes, cutoffs: Cutoffs) -> int:
        """End every session of the user but one; return how many live ones ended.

        The user's generation moves on and the kept session moves with it:
        every other session fails the generation check from this commit on.
        Two single-row updates, whatever the number of sessions.
        """
        with self._write(durable=True) as conn:
            # The generation is looked up once (an uncorrelated subquery), so
            # the count walks the (user_id, generation) index range only.
            (ended,) = conn.execute(
                "SELECT count(*) FROM sessions WHERE user_id = ?1"
                " AND generation = (SELECT generation FROM users WHERE id = ?1)"
                " AND token_hash != ?2 AND last_active_at > ?3 AND created_at > ?4",
                (user_id, keep_token_hash, cutoffs.idle, cutoffs.absolute),
            ).fetchone()
            conn.execute("UPDATE users SET generation = generation + 1 WHERE id = ?", (user_id,))
            conn.execute(
                "UPDATE sessions SET generation = (SELECT generation FROM users WHERE id = ?)"
                " WHERE token_hash = ? AND user_id = ?",
                (user_id, keep_token_hash, user_id),
            )
        return ended

    def purge_expired(self, cutoffs: Cutoffs, batch: int = 500) -> int:
        """Delete every expired or retired session, a batch at a time; return how many.

        Each batch is found by a read, which in WAL mode blocks no one, and
        deleted in its own short transaction, so a login or a revoke never
        waits behind a purge of a million rows. The DELETE re-checks expiry:
        nothing alive is ever deleted, whatever happened between the two.
        """
        total = self._purge(
            # Retired by revoke-all: found through the users whose generation
            # ever moved, and the (user_id, generation) index.
            "SELECT s.token_hash FROM users u JOIN sessions s ON s.user_id = u.id AND s.generation < u.generation"
            " WHERE u.generation > 0 LIMIT ?",
            "s.generation < (SELECT generation FROM users WHERE id = s.user_id)",
            (),
            batch,
        )
        return total + self._purge(
            "SELECT token_hash FROM sessions WHERE last_active_at <= ? OR created_at <= ? LIMIT ?",
            "(s.last_active_at <= ? OR s.created_at <= ?)",
            (cutoffs.idle, cutoffs.absolute),
            batch,
        )

    def _purge(self, find: str, still_dead: str, params: tuple, batch: int) -> int:
        conn = self._conn()
        total = 0
        while True:
            doomed = conn.execute(find, (*params, batch)).fetchall()
            if not doomed:
                return total
            marks = ",".join("?" * len(doomed))
            with self._write() as writer:
                total += writer.execute(
                    f"DELETE FROM sessions AS s WHERE s.token_hash IN ({marks}) AND {still_dead}",
                    (*(row[0] for row in doomed), *params),
                ).rowcount
            if len(doomed) < batch:
                return total

    def checkpoint(self) -> None:
        """Copy the WAL back into the database and truncate it."""
        self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
