"""The PostgreSQL backend of the store: one database shared by every worker of every instance.

Theory of operation (the guarantees of impl/store/base.py, and how PostgreSQL keeps them)
----------------------------------------------------------------------------------------
1. Every request is authenticated by one SELECT on the session's primary key
   (the SHA-256 of its token) joined to its user, whose WHERE clause is the
   whole of "alive" (`_ALIVE`, written once here). It runs on an autocommit
   connection: one round trip, no BEGIN/COMMIT, and no lock taken. Nothing is
   cached anywhere, so an ending committed by any instance is seen by the next
   statement of every other one (READ COMMITTED: each statement reads what
   was committed before it began).
2. Every ending action (revoke, revoke-all, logout, rename, password change)
   and every login first locks its user's row (`SELECT ... FOR NO KEY
   UPDATE`, the lock an UPDATE of the row takes itself), then re-reads the
   caller's session in a new statement, hence a new snapshot. A user's
   generation changes are thereby serialised across all instances: of two
   concurrent revoke-alls, the second waits for the first to commit, then
   finds its caller retired and does nothing (None: 401). A login waits for
   a revoke-all in flight and lands after it (and lives), or commits before
   it (and dies with its generation): never alive and unlisted. FOR NO KEY
   UPDATE rather than FOR UPDATE lets other tables' foreign-key checks on the
   user (an event, a session insert of another transaction) through.
3. Revoke and logout mark one row ended, with why and when. Revoke-all and
   password change retire the user's generation: the user's number moves on,
   the caller's row moves with it, and `retired_generations` says why. A few
   single-row statements whatever the number of sessions. A password change
   also moves the caller's row to a new token hash and keeps the old hash in
   `ended_tokens`, so that the old cookie hears why.
4. Durability follows consequence, as on SQLite. Endings, password changes
   and new accounts commit with synchronous_commit as the server has it (on,
   PostgreSQL's default: flushed to the WAL before the 200). Logins, touches,
   failed-login events and throttle counters commit with `SET LOCAL
   synchronous_commit = off`: a crash of the database server can forget the
   last few hundred milliseconds of those, never an ending.
5. The touch is a conditional UPDATE of one row (older than the interval and
   alive), which PostgreSQL's MVCC never lets block a reader; last_active_at
   is not indexed, so the update is HOT and writes no index.
6. Connections come from a psycopg_pool pool per process, opened lazily with
   short timeouts: connecting (`connect_timeout`), waiting for a pooled
   connection (`pool_timeout`), running a statement (`statement_timeout`) and
   waiting for a lock (`lock_timeout`). A fault is raised as StoreUnavailable
   or StoreBusy, never as a psycopg exception; the connection that met it is
   discarded and the pool's idle ones are checked, so when the server comes
   back the pool refills by itself and no stale connection is handed out.
   A write refused as read-only replaces every connection of the pool: each
   keeps the read-only default it was opened with, alive and well.
   An idempotent read that met a dead connection is retried once on a fresh one.
7. The schema is versioned in `schema_version` (one row per applied step).
   It is created or upgraded in one transaction under an advisory lock, so
   several instances starting together upgrade it exactly once; a current
   schema is recognised with one read and no lock.
8. The purge of expired rows takes a session advisory lock with
   pg_try_advisory_lock: one instance purges, the others skip that round.
   It deletes in batches of small transactions, each re-checking its
   condition, and never runs on the request path.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from .base import (
    EXPIRED,
    Attempts,
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

log = logging.getLogger(__name__)

# Each entry brings a database from the version before it to its own number.
# The same tables as SQLite's, in PostgreSQL's types.
MIGRATIONS: dict[int, str] = {
    1: """
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    -- The email as compared: lower-cased, so Ann@x.org and ann@x.org are one account.
    email_key     TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,  -- milliseconds since the Unix epoch, UTC
    -- Moved on by revoke-all and password change: sessions of older generations are dead.
    generation    BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE sessions (
    token_hash     BYTEA PRIMARY KEY,  -- sha256(cookie token); the token itself is never stored
    id             TEXT NOT NULL UNIQUE,  -- public id, shown in the list and used to revoke
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    generation     BIGINT NOT NULL,  -- the user's generation at login; alive while still current
    ip             TEXT NOT NULL,
    user_agent     TEXT NOT NULL,
    device_name    TEXT NOT NULL,
    created_at     BIGINT NOT NULL,  -- milliseconds
    last_active_at BIGINT NOT NULL,  -- milliseconds; only ever moves forward; not indexed (HOT touch)
    end_reason     TEXT,             -- why it ended (logout, revoke, eviction); NULL while alive
    ended_at       BIGINT,
    name           TEXT,             -- EXT-RENAME
    new_device     BOOLEAN NOT NULL DEFAULT false  -- EXT-NEW-DEVICE
);
-- Listing, counting and revoke-all read one user's current sessions.
CREATE INDEX sessions_by_user ON sessions (user_id, generation);
-- The purge finds what passed its absolute timeout without a scan.
CREATE INDEX sessions_by_created ON sessions (created_at);
-- Why each generation of a user was retired (revoke-all, password change).
CREATE TABLE retired_generations (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    generation BIGINT NOT NULL,
    reason     TEXT NOT NULL,
    retired_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, generation)
);
-- Tokens that stopped working while their session went on (the old token of
-- a password change), kept until the session's absolute timeout.
CREATE TABLE ended_tokens (
    token_hash     BYTEA PRIMARY KEY,
    reason         TEXT NOT NULL,
    ended_at       BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    last_active_at BIGINT NOT NULL
);
-- EXT-ACTIVITY: the security log; ids increase, so newest-first and `before`
-- paging are one index range.
CREATE TABLE events (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    type             TEXT NOT NULL,
    at               BIGINT NOT NULL,
    ip               TEXT NOT NULL,
    device_name      TEXT NOT NULL,
    session_id       TEXT,
    actor_session_id TEXT,
    count            INTEGER,
    new_device       BOOLEAN
);
CREATE INDEX events_by_user ON events (user_id, id);
CREATE INDEX events_by_time ON events (at);
-- EXT-NEW-DEVICE: "has this account logged in from this pair lately" is one lookup.
CREATE INDEX logins_by_device ON events (user_id, device_name, ip, at) WHERE type = 'login';
-- HARD-THROTTLE: consecutive attempts per sha256(email key, client address).
CREATE TABLE login_attempts (
    key          BYTEA PRIMARY KEY,
    attempts     INTEGER NOT NULL,
    locked_until BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
""",
    2: """
-- A login_failed event stands for `count` failures from its address; the last at last_at (ms).
ALTER TABLE events ADD COLUMN last_at BIGINT;
-- Folding a failure into its event reads the account's recent failures only.
CREATE INDEX failed_logins ON events (user_id, at) WHERE type = 'login_failed';
""",
}
SCHEMA_VERSION = max(MIGRATIONS)

# Advisory lock keys (per database): schema changes, and the purge.
MIGRATE_LOCK = 0x5E55_1011
PURGE_LOCK = 0x5E55_1012
# With the user's id hashed beside it: one failed login of an account folds at a time.
FAILED_LOGIN_LOCK = 0x5E55_1013

# Short enough that a request answers 503 within a few seconds when the
# database is gone or wedged, long enough for any statement this store runs.
CONNECT_TIMEOUT = 3  # s, per connection attempt (libpq)
POOL_TIMEOUT = 3.0  # s, waiting for a pooled connection
STATEMENT_TIMEOUT_MS = 5000
LOCK_TIMEOUT_MS = 3000

# Alive: not ended, recent enough, and of its user's current generation.
# The one place this backend says it; every statement below uses it.
# Statements read it over `sessions s` joined to `users u` (FROM sessions s,
# users u / UPDATE sessions s ... FROM users u): a join, which PostgreSQL
# plans once, rather than a subquery it would run again for every row
# (revoke-all counts 10,000 rows with it).
_ALIVE = (
    "u.id = s.user_id AND s.generation = u.generation AND s.end_reason IS NULL"
    " AND s.last_active_at > %(idle)s AND s.created_at > %(absolute)s"
)


def _rfc3339(column: str) -> str:
    return f"to_char(to_timestamp({column} / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


_LISTED = (
    f"s.id, s.device_name, s.ip, {_rfc3339('s.created_at')}, {_rfc3339('s.last_active_at')}, s.name, s.new_device"
)
# The hot path: a constant string, so psycopg prepares it after a few uses;
# the join reads the generation once.
_FIND_SESSION = (
    "SELECT s.id, s.user_id, u.email, s.ip, s.device_name, s.created_at, s.last_active_at"
    f" FROM sessions s, users u WHERE s.token_hash = %(token_hash)s AND {_ALIVE}"
)
# Lock the user of a session (by token hash): the serialisation point of point 2.
_LOCK_USER_OF = (
    "SELECT u.id FROM users u JOIN sessions s ON s.user_id = u.id WHERE s.token_hash = %(caller)s"
    " FOR NO KEY UPDATE OF u"
)
_CALLER = (
    "SELECT s.id, s.user_id, s.generation, s.created_at, s.last_active_at FROM sessions s, users u"
    f" WHERE s.token_hash = %(caller)s AND {_ALIVE}"
)
_INSERT_EVENT = (
    "INSERT INTO events (user_id, type, at, ip, device_name, session_id, actor_session_id, count, new_device)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)

T = TypeVar("T")

# Faults that say "try again shortly": a lock or a statement past its timeout,
# a serialisation failure or deadlock the server broke.
_BUSY = (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable, psycopg.errors.TransactionRollback)
# Faults of the database rather than of our SQL: cannot connect, connection
# lost, server shutting down, disk full, read-only (a standby), out of resources.
_UNAVAILABLE = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg.errors.ReadOnlySqlTransaction,
    psycopg.errors.InsufficientResources,
    psycopg.errors.OperatorIntervention,
)


def _one_line(exc: BaseException) -> str:
    """A driver message on one line: libpq's span several, and a start-up error is shown whole."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _translated(method: Callable[..., T]) -> Callable[..., T]:
    """Turn psycopg's faults into the store's neutral ones; heal the pool after a lost connection."""

    @functools.wraps(method)
    def wrapper(self: "PostgresStore", *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except PoolTimeout as exc:
            raise StoreUnavailable(f"no database connection within {POOL_TIMEOUT:g} s: {_one_line(exc)}") from exc
        except _BUSY as exc:
            raise StoreBusy(_one_line(exc)) from exc
        except psycopg.errors.ReadOnlySqlTransaction as exc:
            self._after_read_only()
            raise StoreUnavailable(_one_line(exc)) from exc
        except _UNAVAILABLE as exc:
            self._after_fault()
            raise StoreUnavailable(_one_line(exc)) from exc

    return wrapper


class _Caller:
    """The caller's live session, as re-read inside a write transaction."""

    __slots__ = ("id", "user_id", "generation", "created_at", "last_active_at")

    def __init__(self, row: tuple[Any, ...]) -> None:
        self.id, self.user_id, self.generation, self.created_at, self.last_active_at = row


class PostgresStore:
    """Users, sessions, the security log and login counters in one PostgreSQL database."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 16) -> None:
        self.url = url
        self._connect_kwargs: dict[str, Any] = {
            "connect_timeout": CONNECT_TIMEOUT,
            # A server that vanished without closing the connection (a
            # network cut, a frozen host) is noticed in seconds, not hours.
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 2,
            "application_name": "sessions-reference",
            # Text goes over the wire as UTF-8 whatever PGCLIENTENCODING says.
            "client_encoding": "UTF8",
        }
        try:
            self._migrate()
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot use {_redacted(url)}: {_one_line(exc)}") from exc
        self._pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=POOL_TIMEOUT,
            kwargs={**self._connect_kwargs, "autocommit": True},
            configure=_configure,
            # Keep retrying a lost server for a day: it is expected back.
            reconnect_timeout=86400,
            name="sessions-store",
            open=False,
        )
        # Opened without waiting: a worker starts even while the database is
        # away, and answers 503 until it returns.
        self._pool.open(wait=False)
        self._drained_at = float("-inf")

    # -- connections -----------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        """A connection of its own, outside the pool, for the schema: no statement timeout."""
        return psycopg.connect(self.url, autocommit=True, **self._connect_kwargs)

    @contextlib.contextmanager
    def _read(self) -> Iterator[psycopg.Connection[Any]]:
        with self._pool.connection() as conn:
            yield conn

    def _reading(self, run: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run an idempotent read; if its connection turned out dead (the server restarted), once more."""
        used: list[psycopg.Connection[Any]] = []
        try:
            with self._read() as conn:
                used.append(conn)
                return run(conn)
        except (psycopg.OperationalError, psycopg.InterfaceError):
            # Only a connection that was handed out and found dead is worth
            # a retry; a pool timeout or a live server's error is not.
            if not used or not used[0].closed:
                raise
            self._after_fault()
            with self._read() as conn:
                return run(conn)

    @contextlib.contextmanager
    def _write(self, durable: bool = False) -> Iterator[psycopg.Connection[Any]]:
        """Run a write transaction; unless `durable`, without waiting for the WAL flush."""
        with self._pool.connection() as conn, conn.transaction():
            if not durable:
                conn.execute("SET LOCAL synchronous_commit = off")
            yield conn

    def _after_read_only(self) -> None:
        # A connection opened while the database was read-only
        # (default_transaction_read_only, a standby) keeps that default for
        # its life and stays alive, so no check discards it: after the cure
        # it would go on failing writes. Replace every connection of the
        # pool, those in use as they come back; at most once a second, so a
        # long read-only spell under load is no reconnection storm.
        now = time.monotonic()
        if now - self._drained_at >= 1.0:
            self._drained_at = now
            with contextlib.suppress(Exception):
                self._pool.drain()

    def _after_fault(self) -> None:
        # The connection that met the fault is discarded by the pool on its
        # return; the idle ones probably died with it (a restart): check
        # them now rather than hand each out to fail once.
        with contextlib.suppress(Exception):
            self._pool.check()

    def _migrate(self) -> None:
        with self._connect() as conn:
            # Any Unicode text must fit: a LATIN1 database refuses emoji, and
            # SQL_ASCII stores bytes unchecked. Refused at start, in one line.
            encoding = conn.execute("SHOW server_encoding").fetchone()[0]
            if encoding.upper() != "UTF8":
                raise StoreUnavailable(
                    f"{_redacted(self.url)} has server_encoding {encoding}; this server needs UTF8"
                    " (CREATE DATABASE ... ENCODING 'UTF8' TEMPLATE template0)"
                )
            if self._current_version(conn) == SCHEMA_VERSION:
                return  # nothing to write, so no lock to wait for
            with conn.transaction():
                # Instances starting together queue here; the lock goes with
                # the transaction, and DDL is transactional: all or nothing.
                # A long upgrade must not be cut short, nor an instance that
                # waits for another's upgrade give up quickly.
                conn.execute("SET LOCAL statement_timeout = 0")
                conn.execute("SET LOCAL lock_timeout = '120s'")
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version ("
                    " version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                )
                # Read again under the lock: another instance may have upgraded meanwhile.
                version = self._current_version(conn)
                if version > SCHEMA_VERSION:
                    raise StoreUnavailable(
                        f"{_redacted(self.url)} has schema version {version}; this server knows {SCHEMA_VERSION}"
                    )
                for step in range(version + 1, SCHEMA_VERSION + 1):
                    conn.execute(MIGRATIONS[step])
                    conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (step,))

    @staticmethod
    def _current_version(conn: psycopg.Connection[Any]) -> int:
        if conn.execute("SELECT to_regclass('schema_version')").fetchone()[0] is None:
            return 0
        return conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]

    @_translated
    def schema_version(self) -> int:
        """Return the schema version recorded in the database."""
        with self._read() as conn:
            return self._current_version(conn)

    def close(self) -> None:
        """Close the pool and its connections."""
        with contextlib.suppress(Exception):
            self._pool.close(timeout=1)

    @staticmethod
    def _lock_caller(conn: psycopg.Connection[Any], caller: bytes, cutoffs: Cutoffs) -> _Caller | None:
        """Lock the caller's user, then re-read the caller: None unless still alive."""
        params = {"caller": caller, "idle": cutoffs.idle, "absolute": cutoffs.absolute}
        if conn.execute(_LOCK_USER_OF, params).fetchone() is None:
            return None
        # A new statement, a new snapshot: it sees whatever the transaction
        # that held the lock before us committed.
        row = conn.execute(_CALLER, params).fetchone()
        return _Caller(row) if row else None

    @staticmethod
    def _log(conn: psycopg.Connection[Any], user_id: str, event: Event) -> None:
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
                event.new_device,
            ),
        )

    # -- accounts --------------------------------------------------------------

    @_translated
    def add_user(self, user_id: str, email: str, email_key: str, password_hash: str, now: int) -> bool:
        with self._write(durable=True) as conn:
            cursor = conn.execute(
                "INSERT INTO users (id, email, email_key, password_hash, created_at) VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                (user_id, email, email_key, password_hash, now),
            )
            return cursor.rowcount > 0

    @_translated
    def find_user(self, email_key: str) -> UserRow | None:
        row = self._reading(
            lambda conn: conn.execute(
                "SELECT id, email, password_hash FROM users WHERE email_key = %s", (email_key,)
            ).fetchone()
        )
        return UserRow(*row) if row else None

    @_translated
    def find_user_by_id(self, user_id: str) -> UserRow | None:
        row = self._reading(
            lambda conn: conn.execute("SELECT id, email, password_hash FROM users WHERE id = %s", (user_id,)).fetchone()
        )
        return UserRow(*row) if row else None

    @_translated
    def replace_password_hash(self, user_id: str, old_hash: str, new_hash: str) -> bool:
        with self._write(durable=True) as conn:
            cursor = conn.execute(
                "UPDATE users SET password_hash = %s WHERE id = %s AND password_hash = %s", (new_hash, user_id, old_hash)
            )
            return cursor.rowcount > 0

    # -- sessions --------------------------------------------------------------

    @_translated
    def add_session(
        self,
        session: NewSession,
        max_live: int,
        cutoffs: Cutoffs,
        event: Event,
        password_hash: str | None = None,
        end_others: Event | None = None,
    ) -> int | None:
        params = {"user": session.user_id, "idle": cutoffs.idle, "absolute": cutoffs.absolute}
        with self._write() as conn:
            # Waits for a revoke-all or password change in flight, then reads
            # the generation and password hash it left: the login lands after
            # it, and lives (point 2), unless the password it checked is no
            # longer the user's.
            locked = conn.execute(
                "SELECT generation, password_hash FROM users WHERE id = %s FOR NO KEY UPDATE", (session.user_id,)
            ).fetchone()
            if locked is None:
                raise StoreUnavailable(f"user {session.user_id} vanished during login")
            if password_hash is not None and locked[1] != password_hash:
                return None
            conn.execute(
                "INSERT INTO sessions (token_hash, id, user_id, generation, ip, user_agent, device_name,"
                " created_at, last_active_at, new_device) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    session.token_hash,
                    session.id,
                    session.user_id,
                    locked[0],
                    session.ip,
                    session.user_agent,
                    session.device_name,
                    session.now,
                    session.now,
                    session.new_device,
                ),
            )
            ended = 0
            if end_others is not None:
                # EXT-RECOVER: the new session retires its generation as a
                # revoke-all from it would, under the same lock.
                row = conn.execute(_CALLER, {"caller": session.token_hash, **params}).fetchone()
                if row is None:  # cannot be: it was inserted above, under the lock
                    return None
                ended = self._retire_generation(conn, _Caller(row), session.token_hash, cutoffs, REVOKED, session.now)
            else:
                (live,) = conn.execute(
                    f"SELECT count(*) FROM sessions s, users u WHERE s.user_id = %(user)s AND {_ALIVE}", params
                ).fetchone()
                if live > max_live:
                    # The least recently active go; their owners hear "expired".
                    conn.execute(
                        f"UPDATE sessions SET end_reason = '{EXPIRED}', ended_at = %(now)s WHERE token_hash IN"
                        f" (SELECT s.token_hash FROM sessions s, users u WHERE s.user_id = %(user)s AND {_ALIVE}"
                        " ORDER BY s.last_active_at, s.created_at LIMIT %(excess)s)",
                        {**params, "now": session.now, "excess": live - max_live},
                    )
            self._log(conn, session.user_id, event._replace(session_id=session.id))
            if end_others is not None:
                self._log(conn, session.user_id, end_others._replace(actor_session_id=session.id, count=ended))
            return ended

    @_translated
    def find_session(self, token_hash: bytes, cutoffs: Cutoffs) -> SessionRow | None:
        # Binary results: the integers and the hash come back without text
        # parsing (a quarter less client time per lookup, measured).
        row = self._reading(
            lambda conn: conn.cursor(binary=True)
            .execute(_FIND_SESSION, {"token_hash": token_hash, "idle": cutoffs.idle, "absolute": cutoffs.absolute})
            .fetchone()
        )
        return SessionRow(*row) if row else None

    @_translated
    def end_facts(self, token_hash: bytes) -> EndFacts | None:
        def read(conn: psycopg.Connection[Any]) -> Any:
            # One statement: the session's row (with its retired generation),
            # or else the token's entry in ended_tokens.
            return conn.execute(
                "SELECT coalesce(s.end_reason, g.reason), coalesce(s.ended_at, g.retired_at), s.created_at,"
                " s.last_active_at FROM sessions s LEFT JOIN retired_generations g"
                " ON g.user_id = s.user_id AND g.generation = s.generation WHERE s.token_hash = %(t)s"
                " UNION ALL SELECT reason, ended_at, created_at, last_active_at FROM ended_tokens"
                " WHERE token_hash = %(t)s AND NOT EXISTS (SELECT 1 FROM sessions WHERE token_hash = %(t)s)"
                " LIMIT 1",
                {"t": token_hash},
            ).fetchone()

        row = self._reading(read)
        return EndFacts(*row) if row else None

    @_translated
    def touch_session(self, token_hash: bytes, now: int, stale_before: int, cutoffs: Cutoffs) -> bool:
        # The condition makes the write happen at most once per interval
        # however many requests race for it (a second UPDATE waiting on the
        # row re-checks it after the first commits), and keeps last_active_at
        # from moving backwards (now > stale_before >= the old value).
        with self._write() as conn:
            cursor = conn.execute(
                f"UPDATE sessions AS s SET last_active_at = %(now)s FROM users u"
                f" WHERE s.token_hash = %(token_hash)s AND s.last_active_at < %(stale_before)s AND {_ALIVE}",
                {
                    "now": now,
                    "token_hash": token_hash,
                    "stale_before": stale_before,
                    "idle": cutoffs.idle,
                    "absolute": cutoffs.absolute,
                },
            )
            return cursor.rowcount > 0

    @_translated
    def list_sessions(self, user_id: str, cutoffs: Cutoffs) -> list[ListedSession]:
        rows = self._reading(
            lambda conn: conn.execute(
                f"SELECT {_LISTED} FROM sessions s, users u WHERE s.user_id = %(user)s AND {_ALIVE}"
                " ORDER BY s.last_active_at DESC, s.created_at DESC, s.id",
                {"user": user_id, "idle": cutoffs.idle, "absolute": cutoffs.absolute},
            ).fetchall()
        )
        return [ListedSession(*row) for row in rows]

    @_translated
    def revoke_session(self, caller: bytes, public_id: str, cutoffs: Cutoffs, event: Event) -> Outcome:
        with self._write(durable=True) as conn:
            me = self._lock_caller(conn, caller, cutoffs)
            if me is None:
                return Outcome.CALLER_GONE
            # The user id is in the WHERE clause: that is the whole of the
            # ownership check, so another user's id behaves like an unknown one.
            cursor = conn.execute(
                f"UPDATE sessions AS s SET end_reason = '{REVOKED}', ended_at = %(now)s FROM users u"
                f" WHERE s.id = %(id)s AND s.user_id = %(user)s AND s.token_hash != %(caller)s AND {_ALIVE}",
                {
                    "now": event.at,
                    "id": public_id,
                    "user": me.user_id,
                    "caller": caller,
                    "idle": cutoffs.idle,
                    "absolute": cutoffs.absolute,
                },
            )
            if cursor.rowcount == 0:
                return Outcome.NOT_FOUND
            self._log(conn, me.user_id, event._replace(session_id=public_id, actor_session_id=me.id))
            return Outcome.DONE

    @_translated
    def rename_session(
        self, caller: bytes, public_id: str, name: str | None, cutoffs: Cutoffs, event: Event
    ) -> tuple[Outcome, ListedSession | None]:
        params: dict[str, Any] = {"id": public_id, "name": name, "idle": cutoffs.idle, "absolute": cutoffs.absolute}
        with self._write() as conn:
            me = self._lock_caller(conn, caller, cutoffs)
            if me is None:
                return Outcome.CALLER_GONE, None
            params["user"] = me.user_id
            row = conn.execute(
                f"UPDATE sessions AS s SET name = %(name)s FROM users u WHERE s.id = %(id)s AND s.user_id = %(user)s AND {_ALIVE}"
                f" RETURNING {_LISTED}",
                params,
            ).fetchone()
            if row is None:
                return Outcome.NOT_FOUND, None
            self._log(conn, me.user_id, event._replace(session_id=public_id, actor_session_id=me.id))
            return Outcome.DONE, ListedSession(*row)

    @_translated
    def logout(self, token_hash: bytes, cutoffs: Cutoffs, event: Event) -> bool:
        with self._write(durable=True) as conn:
            me = self._lock_caller(conn, token_hash, cutoffs)
            if me is None:
                return False
            conn.execute(
                f"UPDATE sessions SET end_reason = '{LOGGED_OUT}', ended_at = %s WHERE token_hash = %s",
                (event.at, token_hash),
            )
            self._log(conn, me.user_id, event._replace(session_id=me.id, actor_session_id=me.id))
            return True

    @staticmethod
    def _retire_generation(
        conn: psycopg.Connection[Any], me: _Caller, caller: bytes, cutoffs: Cutoffs, reason: str, at: int
    ) -> int:
        """Retire the caller's generation and move the caller on; return how many others were alive."""
        (ended,) = conn.execute(
            f"SELECT count(*) FROM sessions s, users u WHERE s.user_id = %(user)s AND s.token_hash != %(caller)s"
            f" AND {_ALIVE}",
            {"user": me.user_id, "caller": caller, "idle": cutoffs.idle, "absolute": cutoffs.absolute},
        ).fetchone()
        conn.execute(
            "INSERT INTO retired_generations (user_id, generation, reason, retired_at) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (user_id, generation) DO UPDATE SET reason = excluded.reason, retired_at = excluded.retired_at",
            (me.user_id, me.generation, reason, at),
        )
        conn.execute("UPDATE users SET generation = %s WHERE id = %s", (me.generation + 1, me.user_id))
        conn.execute("UPDATE sessions SET generation = %s WHERE token_hash = %s", (me.generation + 1, caller))
        return ended

    @_translated
    def revoke_other_sessions(self, caller: bytes, cutoffs: Cutoffs, event: Event) -> int | None:
        with self._write(durable=True) as conn:
            me = self._lock_caller(conn, caller, cutoffs)
            if me is None:
                return None
            ended = self._retire_generation(conn, me, caller, cutoffs, REVOKED, event.at)
            self._log(conn, me.user_id, event._replace(actor_session_id=me.id, count=ended))
            return ended

    @_translated
    def change_password(
        self, caller: bytes, new_hash: str, new_token_hash: bytes, cutoffs: Cutoffs, event: Event
    ) -> int | None:
        with self._write(durable=True) as conn:
            me = self._lock_caller(conn, caller, cutoffs)
            if me is None:
                return None
            ended = self._retire_generation(conn, me, caller, cutoffs, PASSWORD_CHANGED, event.at)
            conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (new_hash, me.user_id))
            conn.execute(
                "INSERT INTO ended_tokens (token_hash, reason, ended_at, created_at, last_active_at)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (token_hash) DO UPDATE SET reason = excluded.reason,"
                " ended_at = excluded.ended_at, created_at = excluded.created_at, last_active_at = excluded.last_active_at",
                (caller, PASSWORD_CHANGED, event.at, me.created_at, me.last_active_at),
            )
            conn.execute("UPDATE sessions SET token_hash = %s WHERE token_hash = %s", (new_token_hash, caller))
            self._log(conn, me.user_id, event._replace(session_id=me.id, actor_session_id=me.id, count=ended))
            return ended

    # -- security log ------------------------------------------------------------

    @_translated
    def add_event(self, user_id: str, event: Event) -> None:
        with self._write() as conn:
            self._log(conn, user_id, event)

    @_translated
    def add_failed_login(self, user_id: str, event: Event, since: int, max_open: int) -> None:
        with self._write() as conn:
            # Serialise the failures of one account (not its other actions):
            # two at once must not both start an event past the bound.
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (FAILED_LOGIN_LOCK, user_id))
            recent = conn.execute(
                "SELECT id, ip FROM events WHERE user_id = %s AND type = 'login_failed' AND at > %s ORDER BY id DESC",
                (user_id, since),
            ).fetchall()
            into = next((row[0] for row in recent if row[1] == event.ip), None)
            if into is None and len(recent) >= max_open:
                into = recent[0][0]
            if into is None:
                conn.execute(
                    "INSERT INTO events (user_id, type, at, ip, device_name, count, last_at)"
                    " VALUES (%s, %s, %s, %s, %s, 1, %s)",
                    (user_id, event.type, event.at, event.ip, event.device_name, event.at),
                )
            else:
                conn.execute(
                    "UPDATE events SET count = coalesce(count, 1) + 1, last_at = greatest(coalesce(last_at, at), %s)"
                    " WHERE id = %s",
                    (event.at, into),
                )

    @_translated
    def list_events(self, user_id: str, limit: int, before: str | None) -> list[EventRow] | None:
        bound = 2**63 - 1
        if before is not None:
            # A cursor, not a number: only one of this user's own event ids pages.
            bound = int(before) if before.isdigit() and len(before) <= 18 else 0

        def read(conn: psycopg.Connection[Any]) -> list[Any] | None:
            if before is not None and conn.execute(
                "SELECT 1 FROM events WHERE id = %s AND user_id = %s", (bound, user_id)
            ).fetchone() is None:
                return None
            return conn.execute(
                f"SELECT id, type, {_rfc3339('at')}, ip, device_name, session_id, actor_session_id, count, new_device,"
                f" CASE WHEN last_at IS NOT NULL THEN {_rfc3339('last_at')} END"
                " FROM events WHERE user_id = %s AND id < %s ORDER BY id DESC LIMIT %s",
                (user_id, bound, limit),
            ).fetchall()

        rows = self._reading(read)
        return None if rows is None else [EventRow(str(row[0]), *row[1:]) for row in rows]

    @_translated
    def device_history(self, user_id: str, device_name: str, ip: str, since: int) -> DeviceHistory:
        seen, any_login = self._reading(
            lambda conn: conn.execute(
                "SELECT EXISTS (SELECT 1 FROM events WHERE type = 'login' AND user_id = %(user)s"
                " AND device_name = %(device)s AND ip = %(ip)s AND at > %(since)s),"
                " EXISTS (SELECT 1 FROM events WHERE type = 'login' AND user_id = %(user)s)",
                {"user": user_id, "device": device_name, "ip": ip, "since": since},
            ).fetchone()
        )
        return DeviceHistory(bool(seen), bool(any_login))

    # -- throttling ----------------------------------------------------------------

    @_translated
    def update_attempts(self, key: bytes, decide: Callable[[Attempts | None], Attempts]) -> Attempts:
        with self._write() as conn:
            # Make sure the row exists and lock it, in one statement:
            # concurrent attempts on one key, from any instance, count one
            # after the other. (An INSERT ... DO NOTHING then a SELECT ...
            # FOR UPDATE found no row when a successful login's
            # clear_attempts deleted it in between: a 500.)
            row = conn.execute(
                "INSERT INTO login_attempts (key, attempts, locked_until, updated_at) VALUES (%s, 0, 0, 0)"
                " ON CONFLICT (key) DO UPDATE SET key = excluded.key"
                " RETURNING attempts, locked_until, updated_at",
                (key,),
            ).fetchone()
            old = Attempts(*row) if row != (0, 0, 0) else None
            new = decide(old)
            if new != old:
                conn.execute(
                    "UPDATE login_attempts SET attempts = %s, locked_until = %s, updated_at = %s WHERE key = %s",
                    (*new, key),
                )
            return new

    @_translated
    def clear_attempts(self, key: bytes) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM login_attempts WHERE key = %s", (key,))

    # -- maintenance -----------------------------------------------------------------

    @_translated
    def purge(self, absolute_cutoff: int, events_before: int, attempts_before: int) -> int:
        with self._pool.connection() as conn:
            # One instance purges; the others find the lock taken and skip
            # this round. A session lock: released by hand below, or by the
            # server if this connection dies.
            if not conn.execute("SELECT pg_try_advisory_lock(%s)", (PURGE_LOCK,)).fetchone()[0]:
                return 0
            try:
                return (
                    self._purge(conn, "sessions", "created_at <= %(bound)s", absolute_cutoff)
                    + self._purge(conn, "ended_tokens", "created_at <= %(bound)s", absolute_cutoff)
                    + self._purge(conn, "retired_generations", "retired_at <= %(bound)s", absolute_cutoff)
                    + self._purge(conn, "events", "at <= %(bound)s", events_before)
                    + self._purge(conn, "login_attempts", "greatest(updated_at, locked_until) <= %(bound)s", attempts_before)
                )
            finally:
                if not conn.closed:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (PURGE_LOCK,))

    @staticmethod
    def _purge(conn: psycopg.Connection[Any], table: str, condition: str, bound: int, batch: int = 1000) -> int:
        # Each batch is its own short autocommit statement, so a login or a
        # revoke never waits behind a purge of a million rows; the DELETE
        # re-checks the condition on each row it finds, so nothing still
        # owed is deleted even if it changed since the sub-select read it.
        statement = sql.SQL(
            "DELETE FROM {table} WHERE ctid = ANY (ARRAY (SELECT ctid FROM {table} WHERE " + condition
            + " LIMIT %(batch)s)) AND " + condition
        ).format(table=sql.Identifier(table))
        total = 0
        while True:
            deleted = conn.execute(statement, {"bound": bound, "batch": batch}).rowcount
            total += deleted
            if deleted < batch:
                return total

    def checkpoint(self) -> None:
        """Nothing to do: PostgreSQL's autovacuum and checkpointer keep the files."""


def _configure(conn: psycopg.Connection[Any]) -> None:
    """Set a new connection's limits (no statement or lock wait may hold a request for long) and durability.

    Endings commit with the server's synchronous_commit, unless a server set
    it off: then this connection turns it back on, since an ending's 200
    must not precede its WAL flush (point 4). Stronger settings
    (remote_write, remote_apply) are kept.
    """
    conn.execute(
        "SELECT set_config('statement_timeout', %s, false), set_config('lock_timeout', %s, false),"
        " set_config('idle_in_transaction_session_timeout', '10000', false), set_config('timezone', 'UTC', false),"
        " CASE WHEN current_setting('synchronous_commit') = 'off'"
        " THEN set_config('synchronous_commit', 'on', false) END",
        (str(STATEMENT_TIMEOUT_MS), str(LOCK_TIMEOUT_MS)),
    )


def _redacted(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return "the database URL"
    where = info.get("host") or "local socket"
    if info.get("port"):
        where += f":{info['port']}"
    return f"postgresql://{where}/{info.get('dbname', '')}"
