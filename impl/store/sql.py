"""Every store verb, written once: the transaction scripts over a small SQL dialect.

As SQLAlchemy's Dialect or Django's DatabaseOperations do, this module holds
the statements and the order in which a verb runs them, and a `Dialect` the
few ways in which the databases spell them differently: how a named
parameter is written, where the alive condition reads the user's generation
from, how a row is locked, how a time is formatted. A backend
(impl/store/sqlite.py, impl/store/postgres.py) subclasses `SqlStore` with
only what truly differs: its connections (how a read runs, how a write
transaction begins and how durable its commit is), how its driver's errors
become StoreBusy/StoreUnavailable, its schema, migrations and purge.

How the guarantees of impl/store/base.py are kept here, once for every backend:
1. Alive is written once (`_UNENDED_AND_RECENT` and the dialect's
   `current_generation`) and read by every statement that finds, counts,
   lists or ends a session; `find_session` is one statement on the primary
   key with it, run through the backend's read path (one round trip).
2. Every ending action runs in one write transaction that first re-reads the
   caller (`_caller`): on PostgreSQL after locking the caller's user row, on
   SQLite under the write lock its BEGIN IMMEDIATE already holds. A caller no
   longer alive raises `CallerGone` before anything is written.
3. Revoke and logout mark one row ended; revoke-all and password change
   retire a generation (`_retire_generation`): a few single-row statements
   whatever the number of sessions.
4. Every action's event is inserted (`_log`) in the action's own transaction.
5. A login first reads its user's row, locked like an ending's: it writes
   nothing if the password hash it checked is no longer the user's, and with
   `end_others` (EXT-RECOVER) retires the generation in the same transaction.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from .base import (
    EXPIRED,
    LOGGED_OUT,
    PASSWORD_CHANGED,
    REVOKED,
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
    StoreError,
    StoreUnavailable,
    UserRow,
)

T = TypeVar("T")

# Alive (guarantee 2 of base.py) is this and the dialect's `current_generation`:
# every statement that finds, counts, lists or ends a live session says both.
_UNENDED_AND_RECENT = "s.end_reason IS NULL AND s.last_active_at > :idle AND s.created_at > :absolute"

# The largest event id a `before` cursor can name (both backends' ids are 64-bit).
_MAX_ID = 2**63 - 1


class Dialect(NamedTuple):
    """How one database spells what the transaction scripts say.

    Statements below are written with `:name` parameters; `compile` turns one
    into the driver's own spelling (cached, so each costs one dict lookup).
    """

    # A statement with `:name` parameters, in the driver's spelling; and the
    # driver's positional marker, for the hot path (bound by a tuple, faster).
    compile: Callable[[str], str]
    positional: str
    # The FROM list over which `alive` reads a session `s`, and what an
    # UPDATE of `sessions AS s` adds so that `alive` may read there too.
    live_from: str
    update_join: str
    # The half of alive that reads the user's row: `s` is of its user's current generation.
    current_generation: str
    # Appended to a SELECT that must lock the row it reads, given the row's
    # alias; "" where a write transaction already holds the database's one
    # write lock (SQLite), so no row lock is needed or spelt.
    lock: Callable[[str], str]
    # An expression formatting a milliseconds column as RFC 3339 UTC (to the second).
    rfc3339: Callable[[str], str]
    # The larger of two values (SQLite's scalar max, PostgreSQL's greatest).
    greatest: str
    # A statement that queues the failed logins of account `:user` one after
    # the other until the transaction ends, and them only (not the account's
    # other actions); "" where the write transaction already holds the one write lock.
    failed_login_lock: str


def named_as_pyformat(statement: str) -> str:
    """Spell `:name` as `%(name)s` (psycopg), leaving string literals alone and doubling a literal `%`."""
    return _pyformat(statement)


@functools.lru_cache(maxsize=512)
def _pyformat(statement: str) -> str:
    def spell(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return f"%({match.group(1)})s"
        return match.group(0).replace("%", "%%")

    return re.sub(r"(?<!:):([A-Za-z_]\w*)|'[^']*'|%", spell, statement)


def _positional(statement: str, marker: str, order: tuple[str, ...]) -> str:
    """Spell a statement's `:name` parameters with a positional marker; they must come in `order`."""
    names: list[str] = []

    def spell(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return marker

    positional = re.sub(r"(?<!:):([A-Za-z_]\w*)", spell, statement)
    if tuple(names) != order:
        raise ValueError(f"parameters {names} are not in the order {order}")
    return positional


def as_is(statement: str) -> str:
    """The driver reads `:name` itself (sqlite3)."""
    return statement


def translated(method: Callable[..., T]) -> Callable[..., T]:
    """Raise StoreBusy/StoreUnavailable from a verb, never the driver's own exceptions (guarantee 8)."""

    @functools.wraps(method)
    def wrapper(self: "SqlStore", *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except StoreError:
            raise
        except Exception as exc:
            fault = self._fault(exc)
            if fault is None:
                raise  # not the database's state: a bug of ours, or CallerGone
            raise fault from exc

    return wrapper


class _Caller(NamedTuple):
    """The caller's live session, as re-read inside a write transaction."""

    id: str
    user_id: str
    generation: int
    created_at: int
    last_active_at: int


class SqlStore:
    """The store's verbs over a dialect; a backend brings its connections, faults and schema."""

    dialect: Dialect

    def __init__(self) -> None:
        d = self.dialect
        self._alive = f"{_UNENDED_AND_RECENT} AND {d.current_generation}"
        # The hot path: one constant statement, compiled once, so the
        # driver's statement cache (or prepared statement) always hits; the
        # join reads the generation with the email. Positional parameters:
        # binding a tuple costs less than a mapping, on every request.
        self._find_session = _positional(
            "SELECT s.id, s.user_id, u.email, s.ip, s.device_name, s.created_at, s.last_active_at"
            " FROM sessions s JOIN users u ON u.id = s.user_id"
            f" WHERE s.token_hash = :token_hash AND s.generation = u.generation AND {_UNENDED_AND_RECENT}",
            d.positional,
            ("token_hash", "idle", "absolute"),
        )
        self._listed = (
            f"s.id, s.device_name, s.ip, {d.rfc3339('s.created_at')}, {d.rfc3339('s.last_active_at')},"
            " s.name, s.new_device"
        )

    # -- what each backend provides ------------------------------------------------

    def _fetchone(self, statement: str, params: dict[str, Any] | tuple[Any, ...]) -> Any:
        """Run a read outside any transaction; return its first row or None."""
        raise NotImplementedError

    def _fetchall(self, statement: str, params: dict[str, Any]) -> list[Any]:
        """Run a read outside any transaction; return its rows."""
        raise NotImplementedError

    def _write(self, durable: bool = False) -> contextlib.AbstractContextManager[Any]:
        """Run a write transaction; `durable` for what must survive a power cut once acknowledged."""
        raise NotImplementedError

    def _fault(self, exc: Exception) -> StoreError | None:
        """Say which neutral fault a driver error is (and drop what met it); None if it is a bug of ours."""
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------------

    def _sql(self, statement: str) -> str:
        return self.dialect.compile(statement)

    def _run(self, conn: Any, statement: str, params: dict[str, Any]) -> Any:
        return conn.execute(self.dialect.compile(statement), params)

    def _caller(self, conn: Any, caller: bytes, cutoffs: Cutoffs) -> _Caller:
        """Re-read the caller inside the write transaction, its user locked; raise CallerGone unless alive."""
        d = self.dialect
        params = {"caller": caller, "idle": cutoffs.idle, "absolute": cutoffs.absolute}
        if d.lock("u"):
            # Serialise the user's generation changes across connections and
            # instances; the read below is a new statement, hence a new
            # snapshot: it sees whatever the lock's previous holder committed.
            locked = self._run(
                conn,
                f"SELECT u.id FROM users u JOIN sessions s ON s.user_id = u.id WHERE s.token_hash = :caller{d.lock('u')}",
                params,
            ).fetchone()
            if locked is None:
                raise CallerGone(caller)
        row = self._run(
            conn,
            "SELECT s.id, s.user_id, s.generation, s.created_at, s.last_active_at"
            f" FROM {d.live_from} WHERE s.token_hash = :caller AND {self._alive}",
            params,
        ).fetchone()
        if row is None:
            raise CallerGone(caller)
        return _Caller(*row)

    def _log(self, conn: Any, user_id: str, event: Event) -> None:
        self._run(
            conn,
            "INSERT INTO events (user_id, type, at, ip, device_name, session_id, actor_session_id, count, new_device)"
            " VALUES (:user, :type, :at, :ip, :device_name, :session_id, :actor_session_id, :count, :new_device)",
            {"user": user_id, **event._asdict()},
        )

    def _listed_session(self, row: Any) -> ListedSession:
        return ListedSession(*row[:6], bool(row[6]))

    # -- accounts --------------------------------------------------------------

    @translated
    def add_user(self, user_id: str, email: str, email_key: str, password_hash: str, now: int) -> bool:
        with self._write(durable=True) as conn:
            cursor = self._run(
                conn,
                "INSERT INTO users (id, email, email_key, password_hash, created_at)"
                " VALUES (:id, :email, :email_key, :password_hash, :now) ON CONFLICT DO NOTHING",
                {"id": user_id, "email": email, "email_key": email_key, "password_hash": password_hash, "now": now},
            )
            return cursor.rowcount > 0

    @translated
    def find_user(self, email_key: str) -> UserRow | None:
        row = self._fetchone(self._sql("SELECT id, email, password_hash FROM users WHERE email_key = :key"), {"key": email_key})
        return UserRow(*row) if row else None

    @translated
    def find_user_by_id(self, user_id: str) -> UserRow | None:
        row = self._fetchone(self._sql("SELECT id, email, password_hash FROM users WHERE id = :id"), {"id": user_id})
        return UserRow(*row) if row else None

    @translated
    def replace_password_hash(self, user_id: str, old_hash: str, new_hash: str) -> bool:
        with self._write(durable=True) as conn:
            cursor = self._run(
                conn,
                "UPDATE users SET password_hash = :new WHERE id = :id AND password_hash = :old",
                {"new": new_hash, "id": user_id, "old": old_hash},
            )
            return cursor.rowcount > 0

    # -- sessions --------------------------------------------------------------

    @translated
    def add_session(
        self,
        session: NewSession,
        max_live: int,
        cutoffs: Cutoffs,
        event: Event,
        password_hash: str | None = None,
        end_others: Event | None = None,
    ) -> int | None:
        d = self.dialect
        params = {"user": session.user_id, "idle": cutoffs.idle, "absolute": cutoffs.absolute}
        with self._write() as conn:
            # The user's row, locked as a revoke-all or password change locks
            # it: one in flight is waited for, and the login lands after it
            # (and lives), never in between, unless the password it checked
            # is no longer the user's.
            locked = self._run(
                conn, f"SELECT u.generation, u.password_hash FROM users u WHERE u.id = :user{d.lock('u')}", params
            ).fetchone()
            if locked is None:
                raise StoreUnavailable(f"user {session.user_id} vanished during login")
            if password_hash is not None and locked[1] != password_hash:
                return None
            self._run(
                conn,
                "INSERT INTO sessions (token_hash, id, user_id, generation, ip, user_agent, device_name,"
                " created_at, last_active_at, new_device) VALUES (:token_hash, :id, :user_id, :generation, :ip,"
                " :user_agent, :device_name, :now, :now, :new_device)",
                {**session._asdict(), "generation": locked[0]},
            )
            ended = 0
            if end_others is not None:
                # EXT-RECOVER: the new session retires its generation as a
                # revoke-all from it would, in this same transaction (it was
                # inserted above, under the lock: it cannot be gone).
                me = self._caller(conn, session.token_hash, cutoffs)
                ended = self._retire_generation(conn, me, session.token_hash, cutoffs, REVOKED, session.now)
            else:
                (live,) = self._run(
                    conn, f"SELECT count(*) FROM {d.live_from} WHERE s.user_id = :user AND {self._alive}", params
                ).fetchone()
                if live > max_live:
                    # The least recently active go; their owners hear "expired".
                    self._run(
                        conn,
                        f"UPDATE sessions SET end_reason = '{EXPIRED}', ended_at = :now WHERE token_hash IN"
                        f" (SELECT s.token_hash FROM {d.live_from} WHERE s.user_id = :user AND {self._alive}"
                        " ORDER BY s.last_active_at, s.created_at LIMIT :excess)",
                        {**params, "now": session.now, "excess": live - max_live},
                    )
            self._log(conn, session.user_id, event._replace(session_id=session.id))
            if end_others is not None:
                self._log(conn, session.user_id, end_others._replace(actor_session_id=session.id, count=ended))
            return ended

    @translated
    def find_session(self, token_hash: bytes, cutoffs: Cutoffs) -> SessionRow | None:
        row = self._fetchone(self._find_session, (token_hash, cutoffs.idle, cutoffs.absolute))
        return SessionRow(*row) if row else None

    @translated
    def end_facts(self, token_hash: bytes) -> EndFacts | None:
        # One statement: the session's row (with its retired generation), or
        # else the token's entry in ended_tokens.
        row = self._fetchone(
            self._sql(
                "SELECT coalesce(s.end_reason, g.reason), coalesce(s.ended_at, g.retired_at), s.created_at,"
                " s.last_active_at FROM sessions s LEFT JOIN retired_generations g"
                " ON g.user_id = s.user_id AND g.generation = s.generation WHERE s.token_hash = :t"
                " UNION ALL SELECT reason, ended_at, created_at, last_active_at FROM ended_tokens"
                " WHERE token_hash = :t AND NOT EXISTS (SELECT 1 FROM sessions WHERE token_hash = :t)"
                " LIMIT 1"
            ),
            {"t": token_hash},
        )
        return EndFacts(*row) if row else None

    @translated
    def touch_session(self, token_hash: bytes, now: int, stale_before: int, cutoffs: Cutoffs) -> bool:
        # The condition makes the write happen at most once per interval
        # however many requests race for it (a second UPDATE waiting on the
        # row re-checks it after the first commits), and keeps last_active_at
        # from moving backwards (now > stale_before >= the old value).
        d = self.dialect
        with self._write() as conn:
            cursor = self._run(
                conn,
                f"UPDATE sessions AS s SET last_active_at = :now{d.update_join}"
                f" WHERE s.token_hash = :token_hash AND s.last_active_at < :stale_before AND {self._alive}",
                {"now": now, "token_hash": token_hash, "stale_before": stale_before, "idle": cutoffs.idle, "absolute": cutoffs.absolute},
            )
            return cursor.rowcount > 0

    @translated
    def list_sessions(self, user_id: str, cutoffs: Cutoffs) -> list[ListedSession]:
        # The database formats the timestamps: a thousand sessions are two
        # thousand conversions, which cost ten times more in Python.
        d = self.dialect
        rows = self._fetchall(
            self._sql(
                f"SELECT {self._listed} FROM {d.live_from} WHERE s.user_id = :user AND {self._alive}"
                " ORDER BY s.last_active_at DESC, s.created_at DESC, s.id"
            ),
            {"user": user_id, "idle": cutoffs.idle, "absolute": cutoffs.absolute},
        )
        return [self._listed_session(row) for row in rows]

    @translated
    def revoke_session(self, caller: bytes, public_id: str, cutoffs: Cutoffs, event: Event) -> Outcome:
        d = self.dialect
        with self._write(durable=True) as conn:
            me = self._caller(conn, caller, cutoffs)
            # The user id is in the WHERE clause: that is the whole of the
            # ownership check, so another user's id behaves like an unknown one.
            cursor = self._run(
                conn,
                f"UPDATE sessions AS s SET end_reason = '{REVOKED}', ended_at = :now{d.update_join}"
                f" WHERE s.id = :id AND s.user_id = :user AND s.token_hash != :caller AND {self._alive}",
                {"now": event.at, "id": public_id, "user": me.user_id, "caller": caller, "idle": cutoffs.idle, "absolute": cutoffs.absolute},
            )
            if cursor.rowcount == 0:
                return Outcome.NOT_FOUND
            self._log(conn, me.user_id, event._replace(session_id=public_id, actor_session_id=me.id))
            return Outcome.DONE

    @translated
    def rename_session(
        self, caller: bytes, public_id: str, name: str | None, cutoffs: Cutoffs, event: Event
    ) -> ListedSession | None:
        d = self.dialect
        with self._write() as conn:
            me = self._caller(conn, caller, cutoffs)
            params = {"id": public_id, "name": name, "user": me.user_id, "idle": cutoffs.idle, "absolute": cutoffs.absolute}
            cursor = self._run(
                conn,
                f"UPDATE sessions AS s SET name = :name{d.update_join}"
                f" WHERE s.id = :id AND s.user_id = :user AND {self._alive}",
                params,
            )
            if cursor.rowcount == 0:
                return None
            self._log(conn, me.user_id, event._replace(session_id=public_id, actor_session_id=me.id))
            row = self._run(conn, f"SELECT {self._listed} FROM sessions s WHERE s.id = :id AND s.user_id = :user", params).fetchone()
            return self._listed_session(row)

    @translated
    def logout(self, token_hash: bytes, cutoffs: Cutoffs, event: Event) -> None:
        with self._write(durable=True) as conn:
            me = self._caller(conn, token_hash, cutoffs)
            self._run(
                conn,
                f"UPDATE sessions SET end_reason = '{LOGGED_OUT}', ended_at = :now WHERE token_hash = :token_hash",
                {"now": event.at, "token_hash": token_hash},
            )
            self._log(conn, me.user_id, event._replace(session_id=me.id, actor_session_id=me.id))

    def _retire_generation(self, conn: Any, me: _Caller, caller: bytes, cutoffs: Cutoffs, reason: str, at: int) -> int:
        """Retire the caller's generation and move the caller on; return how many others were alive."""
        d = self.dialect
        (ended,) = self._run(
            conn,
            f"SELECT count(*) FROM {d.live_from} WHERE s.user_id = :user AND s.token_hash != :caller AND {self._alive}",
            {"user": me.user_id, "caller": caller, "idle": cutoffs.idle, "absolute": cutoffs.absolute},
        ).fetchone()
        params = {"user": me.user_id, "generation": me.generation, "next": me.generation + 1, "reason": reason, "at": at, "caller": caller}
        self._run(
            conn,
            "INSERT INTO retired_generations (user_id, generation, reason, retired_at) VALUES (:user, :generation, :reason, :at)"
            " ON CONFLICT (user_id, generation) DO UPDATE SET reason = excluded.reason, retired_at = excluded.retired_at",
            params,
        )
        self._run(conn, "UPDATE users SET generation = :next WHERE id = :user", params)
        self._run(conn, "UPDATE sessions SET generation = :next WHERE token_hash = :caller", params)
        return ended

    @translated
    def revoke_other_sessions(self, caller: bytes, cutoffs: Cutoffs, event: Event) -> int:
        with self._write(durable=True) as conn:
            me = self._caller(conn, caller, cutoffs)
            ended = self._retire_generation(conn, me, caller, cutoffs, REVOKED, event.at)
            self._log(conn, me.user_id, event._replace(actor_session_id=me.id, count=ended))
            return ended

    @translated
    def change_password(self, caller: bytes, new_hash: str, new_token_hash: bytes, cutoffs: Cutoffs, event: Event) -> int:
        with self._write(durable=True) as conn:
            me = self._caller(conn, caller, cutoffs)
            ended = self._retire_generation(conn, me, caller, cutoffs, PASSWORD_CHANGED, event.at)
            params = {
                "user": me.user_id,
                "hash": new_hash,
                "caller": caller,
                "new_token_hash": new_token_hash,
                "reason": PASSWORD_CHANGED,
                "at": event.at,
                "created_at": me.created_at,
                "last_active_at": me.last_active_at,
            }
            self._run(conn, "UPDATE users SET password_hash = :hash WHERE id = :user", params)
            self._run(
                conn,
                "INSERT INTO ended_tokens (token_hash, reason, ended_at, created_at, last_active_at)"
                " VALUES (:caller, :reason, :at, :created_at, :last_active_at) ON CONFLICT (token_hash) DO UPDATE SET"
                " reason = excluded.reason, ended_at = excluded.ended_at, created_at = excluded.created_at,"
                " last_active_at = excluded.last_active_at",
                params,
            )
            self._run(conn, "UPDATE sessions SET token_hash = :new_token_hash WHERE token_hash = :caller", params)
            self._log(conn, me.user_id, event._replace(session_id=me.id, actor_session_id=me.id, count=ended))
            return ended

    # -- security log ------------------------------------------------------------

    @translated
    def add_event(self, user_id: str, event: Event) -> None:
        with self._write() as conn:
            self._log(conn, user_id, event)

    @translated
    def add_failed_login(self, user_id: str, event: Event, since: int, max_open: int) -> None:
        d = self.dialect
        params = {"user": user_id, "since": since, "at": event.at}
        with self._write() as conn:
            if d.failed_login_lock:
                # Two failures at once must not both start an event past the bound.
                self._run(conn, d.failed_login_lock, params)
            recent = self._run(
                conn,
                "SELECT id, ip FROM events WHERE user_id = :user AND type = 'login_failed' AND at > :since ORDER BY id DESC",
                params,
            ).fetchall()
            into = next((row[0] for row in recent if row[1] == event.ip), None)
            if into is None and len(recent) >= max_open:
                into = recent[0][0]
            if into is None:
                self._run(
                    conn,
                    "INSERT INTO events (user_id, type, at, ip, device_name, count, last_at)"
                    " VALUES (:user, :type, :at, :ip, :device_name, 1, :at)",
                    {**params, "type": event.type, "ip": event.ip, "device_name": event.device_name},
                )
            else:
                self._run(
                    conn,
                    f"UPDATE events SET count = coalesce(count, 1) + 1, last_at = {d.greatest}(coalesce(last_at, at), :at)"
                    " WHERE id = :id",
                    {**params, "id": into},
                )

    @translated
    def list_events(self, user_id: str, limit: int, before: str | None) -> list[EventRow] | None:
        rfc3339 = self.dialect.rfc3339
        bound = _MAX_ID
        if before is not None:
            # A cursor, not a number: only one of this user's own event ids pages.
            bound = int(before) if before.isascii() and before.isdigit() and len(before) <= 18 else 0
            if self._fetchone(self._sql("SELECT 1 FROM events WHERE id = :id AND user_id = :user"), {"id": bound, "user": user_id}) is None:
                return None
        rows = self._fetchall(
            self._sql(
                f"SELECT id, type, {rfc3339('at')}, ip, device_name, session_id, actor_session_id, count, new_device,"
                f" {rfc3339('last_at')} FROM events WHERE user_id = :user AND id < :before ORDER BY id DESC LIMIT :limit"
            ),
            {"user": user_id, "before": bound, "limit": limit},
        )
        return [EventRow(str(row[0]), *row[1:8], None if row[8] is None else bool(row[8]), row[9]) for row in rows]

    @translated
    def device_history(self, user_id: str, device_name: str, ip: str, since: int) -> DeviceHistory:
        seen, any_login = self._fetchone(
            self._sql(
                "SELECT EXISTS (SELECT 1 FROM events WHERE type = 'login' AND user_id = :user"
                " AND device_name = :device AND ip = :ip AND at > :since),"
                " EXISTS (SELECT 1 FROM events WHERE type = 'login' AND user_id = :user)"
            ),
            {"user": user_id, "device": device_name, "ip": ip, "since": since},
        )
        return DeviceHistory(bool(seen), bool(any_login))

    # -- throttling ----------------------------------------------------------------

    @translated
    def update_attempts(self, key: bytes, decide: Callable[[Attempts | None], Attempts]) -> Attempts:
        with self._write() as conn:
            # Make sure the row exists and lock it, in one statement:
            # concurrent attempts on one key, from any worker or instance,
            # count one after the other. (An INSERT ... DO NOTHING then a
            # SELECT ... FOR UPDATE found no row when a successful login's
            # clear_attempts deleted it in between: a 500.) fetchall: the
            # statement is finished before the next one runs.
            params: dict[str, Any] = {"key": key}
            (row,) = self._run(
                conn,
                "INSERT INTO login_attempts (key, attempts, locked_until, updated_at) VALUES (:key, 0, 0, 0)"
                " ON CONFLICT (key) DO UPDATE SET key = excluded.key RETURNING attempts, locked_until, updated_at",
                params,
            ).fetchall()
            old = Attempts(*row) if tuple(row) != (0, 0, 0) else None
            new = decide(old)
            if new != old:
                self._run(
                    conn,
                    "UPDATE login_attempts SET attempts = :attempts, locked_until = :locked_until, updated_at = :updated_at"
                    " WHERE key = :key",
                    {**params, "attempts": new.count, "locked_until": new.locked_until, "updated_at": new.updated_at},
                )
            return new

    @translated
    def clear_attempts(self, key: bytes) -> None:
        with self._write() as conn:
            self._run(conn, "DELETE FROM login_attempts WHERE key = :key", {"key": key})
