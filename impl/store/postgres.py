"""The PostgreSQL backend of the store: one database shared by every worker of every instance.

The verbs are impl/store/sql.py's, written once for every backend; this
module holds PostgreSQL's dialect, its connection pool, faults, schema and purge.

Theory of operation (the guarantees of impl/store/base.py, and how PostgreSQL keeps them)
----------------------------------------------------------------------------------------
1. Every request is authenticated by one SELECT on the session's primary key
   (the SHA-256 of its token) joined to its user, whose WHERE clause is the
   whole of "alive" (written once, in impl/store/sql.py). It runs on an autocommit
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
   it (and dies with its generation): never alive and unlisted. Under that
   lock it also compares the password hash it checked with the user's, so a
   login racing a password change never outlives it. FOR NO KEY
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
   A connection opened while the database was read-only is remembered, and
   a write handed one closes it and takes another (see `_write`).
   An idempotent read that met a dead connection is retried once on a fresh one.
   Reads with positional parameters (the session lookup of every request)
   skip psycopg's cursor layer and go to libpq through psycopg's own
   binding (`_RawReads`): the same connection, the same errors, a third of
   the client CPU.
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
import logging
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from psycopg import pq, sql
from psycopg_pool import ConnectionPool, PoolTimeout

from .base import StoreBusy, StoreError, StoreUnavailable, describe_database
from .sql import Dialect, SqlStore, named_as_pyformat, translated

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

# How PostgreSQL spells the transaction scripts of impl/store/sql.py.
# Statements read alive over `sessions s` joined to `users u` (FROM sessions
# s, users u / UPDATE sessions s ... FROM users u): a join, which PostgreSQL
# plans once, rather than a subquery it would run again for every row
# (revoke-all counts 10,000 rows with it). Rows are locked FOR NO KEY UPDATE,
# the lock an UPDATE of the row takes itself (point 2).
DIALECT = Dialect(
    compile=named_as_pyformat,
    positional="%s",
    live_from="sessions s, users u",
    update_join=" FROM users u",
    current_generation="u.id = s.user_id AND s.generation = u.generation",
    lock=lambda alias: f" FOR NO KEY UPDATE OF {alias}",
    greatest="greatest",
    failed_login_lock=f"SELECT pg_advisory_xact_lock({FAILED_LOGIN_LOCK}, hashtext(:user))",
    rfc3339=lambda column: (
        f"to_char(to_timestamp({column} / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    ),
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


# Connections opened while the database was read-only, with when (monotonic s).
_OPENED_READ_ONLY: "weakref.WeakKeyDictionary[psycopg.Connection[Any], float]" = weakref.WeakKeyDictionary()


def _one_line(exc: BaseException) -> str:
    """A driver message on one line: libpq's span several, and a start-up error is shown whole."""
    return " ".join(str(exc).split()) or type(exc).__name__


class PostgresStore(SqlStore):
    """Users, sessions, the security log and login counters in one PostgreSQL database."""

    dialect = DIALECT

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
            raise StoreUnavailable(f"cannot use {describe_database(url)}: {_one_line(exc)}") from exc
        self._max_size = max_size
        self._raw = _RawReads()
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
        super().__init__()

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
        started = time.monotonic()
        with contextlib.ExitStack() as stack:
            conn = stack.enter_context(self._pool.connection())
            # A connection opened while the database was read-only stays so
            # for its life (default_transaction_read_only is read at connect)
            # and stays healthy, so no check drops it: after the cure it
            # would fail every write it is given. Closed (the pool replaces
            # it), until one opened since this write began: on a database
            # made writable again, that one writes.
            for _ in range(self._max_size + 1):
                opened = _OPENED_READ_ONLY.get(conn)
                if opened is None or opened >= started:
                    break
                conn.close()
                stack.close()
                conn = stack.enter_context(self._pool.connection())
            stack.enter_context(conn.transaction())
            if not durable:
                conn.execute("SET LOCAL synchronous_commit = off")
            yield conn

    def _fetchone(self, statement: str, params: dict[str, Any] | tuple[Any, ...]) -> Any:
        if isinstance(params, tuple):
            # The hot path (the session lookup of every request): see _RawReads.
            return self._reading(lambda conn: self._raw.fetchone(conn, statement, params))
        # Binary results: the integers and the hash come back without text
        # parsing (a quarter less client time per lookup, measured).
        return self._reading(lambda conn: conn.cursor(binary=True).execute(statement, params).fetchone())

    def _fetchall(self, statement: str, params: dict[str, Any]) -> list[Any]:
        return self._reading(lambda conn: conn.execute(statement, params).fetchall())

    def _fault(self, exc: Exception) -> StoreError | None:
        if isinstance(exc, PoolTimeout):
            return StoreUnavailable(f"no database connection within {POOL_TIMEOUT:g} s: {_one_line(exc)}")
        # Busy first: a statement cancelled by its timeout is an OperationalError too.
        if isinstance(exc, _BUSY):
            return StoreBusy(_one_line(exc))
        if isinstance(exc, _UNAVAILABLE):
            self._after_fault()
            return StoreUnavailable(_one_line(exc))
        return None  # our SQL's error (or CallerGone), not the database's state

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
                    f"{describe_database(self.url)} has server_encoding {encoding}; this server needs UTF8"
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
                        f"{describe_database(self.url)} has schema version {version}; this server knows {SCHEMA_VERSION}"
                    )
                for step in range(version + 1, SCHEMA_VERSION + 1):
                    conn.execute(MIGRATIONS[step])
                    conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (step,))

    @staticmethod
    def _current_version(conn: psycopg.Connection[Any]) -> int:
        if conn.execute("SELECT to_regclass('schema_version')").fetchone()[0] is None:
            return 0
        return conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]

    @translated
    def schema_version(self) -> int:
        """Return the schema version recorded in the database."""
        with self._read() as conn:
            return self._current_version(conn)

    @translated
    def upgrade_in_progress(self) -> bool:
        """Tell whether an instance holds the schema lock, that is, is upgrading the schema now."""
        # An advisory lock on one bigint key shows as classid (high half), objid (low half), objsubid 1.
        with self._read() as conn:
            return conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND classid::bigint = %s AND objid::bigint = %s)",
                (MIGRATE_LOCK >> 32, MIGRATE_LOCK & 0xFFFFFFFF),
            ).fetchone()[0]

    def close(self) -> None:
        """Close the pool and its connections."""
        with contextlib.suppress(Exception):
            self._pool.close(timeout=1)

    # -- maintenance -----------------------------------------------------------------

    @translated
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


_SQLSTATE = pq.DiagnosticField.SQLSTATE
_NO_SUCH_STATEMENT = b"26000"  # invalid_sql_statement_name


class _RawReads:
    """One-row reads with positional parameters, straight to libpq through psycopg's binding (`conn.pgconn`).

    psycopg's cursor (query conversion, adaptation, its prepared-statement
    bookkeeping, result loading, the pool's context managers around it) cost
    two thirds of the client CPU of the session lookup that every request
    makes. Here each statement is prepared once per connection under a name
    of ours, parameters go as bytes (binary) or text, and the few result
    types we select are read from their text form. The connection is the
    pool's, used by one thread at a time and left idle, as a cursor leaves
    it; errors are psycopg's own exceptions, from the same result, so that
    the store's fault translation sees no difference. libpq runs the
    statement with the GIL released, as psycopg does.
    """

    # Result columns by type OID: bigint, integer, smallint; text, varchar; boolean; bytea.
    _LOADERS: dict[int, Callable[[bytes], Any]] = {
        20: int, 23: int, 21: int,
        25: bytes.decode, 1043: bytes.decode,
        16: lambda v: v == b"t",
        17: lambda v: bytes.fromhex(v[2:].decode()),
    }

    def __init__(self) -> None:
        self._statements: dict[str, tuple[bytes, bytes]] = {}
        # Per connection, the names prepared on it (a new connection has none).
        self._prepared: weakref.WeakKeyDictionary[Any, set[bytes]] = weakref.WeakKeyDictionary()

    def _statement(self, statement: str) -> tuple[bytes, bytes]:
        known = self._statements.get(statement)
        if known is None:
            parts = statement.split("%s")
            if "%" in statement.replace("%s", ""):
                raise ValueError(f"not a plain positional statement: {statement!r}")
            text = "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], 1)) + parts[-1]
            known = self._statements[statement] = (f"sessions_r{len(self._statements)}".encode(), text.encode())
        return known

    def fetchone(self, conn: psycopg.Connection[Any], statement: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        name, text = self._statement(statement)
        pgconn = conn.pgconn
        prepared = self._prepared.setdefault(pgconn, set())
        values, formats = [], []
        for value in params:
            if value is None:
                values.append(None)
                formats.append(0)
            elif isinstance(value, bytes):
                values.append(value)
                formats.append(1)
            elif isinstance(value, (int, str)) and not isinstance(value, bool):
                values.append(str(value).encode())
                formats.append(0)
            else:
                raise TypeError(f"no raw form for a parameter of type {type(value).__name__}")
        if name not in prepared:
            self._check(pgconn.prepare(name, text), pq.ExecStatus.COMMAND_OK)
            prepared.add(name)
        result = pgconn.exec_prepared(name, values, formats)
        if result.status != pq.ExecStatus.TUPLES_OK and result.error_field(_SQLSTATE) == _NO_SUCH_STATEMENT:
            # psycopg ends a rolled-back transaction with DEALLOCATE ALL,
            # which takes our statements too: prepare again, once.
            self._check(pgconn.prepare(name, text), pq.ExecStatus.COMMAND_OK)
            result = pgconn.exec_prepared(name, values, formats)
        self._check(result, pq.ExecStatus.TUPLES_OK)
        if result.ntuples == 0:
            return None
        loaders = self._LOADERS
        row = []
        for column in range(result.nfields):
            value = result.get_value(0, column)
            row.append(None if value is None else loaders[result.ftype(column)](value))
        return tuple(row)

    @staticmethod
    def _check(result: Any, wanted: pq.ExecStatus) -> Any:
        if result.status != wanted:
            if result.error_field(_SQLSTATE) is None:
                # No SQLSTATE: libpq's own failure, the connection lost (as psycopg raises it).
                raise psycopg.OperationalError(result.get_error_message("utf-8") or "connection lost")
            raise psycopg.errors.error_from_result(result, encoding="utf-8")
        return result


def _configure(conn: psycopg.Connection[Any]) -> None:
    """Set a new connection's limits (no statement or lock wait may hold a request for long) and durability.

    Endings commit with the server's synchronous_commit, unless a server set
    it off: then this connection turns it back on, since an ending's 200
    must not precede its WAL flush (point 4). Stronger settings
    (remote_write, remote_apply) are kept.
    """
    row = conn.execute(
        "SELECT set_config('statement_timeout', %s, false), set_config('lock_timeout', %s, false),"
        " set_config('idle_in_transaction_session_timeout', '10000', false), set_config('timezone', 'UTC', false),"
        " CASE WHEN current_setting('synchronous_commit') = 'off'"
        " THEN set_config('synchronous_commit', 'on', false) END,"
        " current_setting('default_transaction_read_only')",
        (str(STATEMENT_TIMEOUT_MS), str(LOCK_TIMEOUT_MS)),
    ).fetchone()
    if row is not None and row[-1] == "on":
        _OPENED_READ_ONLY[conn] = time.monotonic()
