"""The store interface: what the session policy asks of a database, and nothing more.

The policy (impl/sessions.py, impl/accounts.py, impl/throttle.py) decides
tokens, hashing, cut-offs and what each action means; the store only
stores and finds rows, with the verbs below. As Django's session backends
do, `base` holds the contract; the verbs are written once, as transaction
scripts over a small SQL dialect (impl/store/sql.py), and each backend
(impl/store/sqlite.py, impl/store/postgres.py) holds its dialect,
connections, schema and migrations.

Theory of operation: what every backend guarantees
--------------------------------------------------
1. One copy. A session is one row; every request is authenticated by reading
   it, in the statement that decides whether it is alive. No cache, no second
   copy: an ended session is refused on the very next request, in every
   thread, worker process and server instance.
2. Alive means: not ended (no end reason recorded on the row), of its
   user's current generation, last active after the idle cut-off and created
   after the absolute cut-off. The cut-offs come from the policy (`Cutoffs`);
   the condition is written once (impl/store/sql.py).
3. Every ending action is one atomic step that first re-checks the caller.
   Revoke, revoke-all, logout and password change take the caller's token
   hash, and in one transaction check that the caller's session is still
   alive and then act. Of two concurrent revoke-alls from two sessions of one
   user exactly one succeeds: the other finds its own session retired, does
   nothing and raises `CallerGone` (the one way every such verb says it),
   which is answered 401. A session that keeps sending revoke-all cannot
   outlive its owner's.
4. Revoke-all and password change retire a generation: the user's generation
   moves on, the caller's session moves with it, and the retirement is
   recorded with its reason. Constant time however many sessions end; a login
   racing with it is either before (and dies) or after (and lives). A login
   writes its session only if the password hash it checked is still the
   user's, compared in its own write transaction under the lock a password
   change takes: after a change, no login with the old password is let in.
5. Why a session ended is kept on its row (revoke, logout, eviction) or with
   its retired generation (revoke-all, password change) until the session's
   absolute timeout has passed; only the 401 path reads it (`end_facts`).
6. The security log is written in the same transaction as the action it
   records: an event that cannot be written fails the action.
7. Only token hashes are stored, never tokens.
8. Faults are neutral: a backend raises `StoreBusy` (locked past its
   timeout) or `StoreUnavailable` (cannot reach or cannot write the
   database) and never its driver's own exceptions; after either, the next
   call starts from a fresh connection, so a cured fault heals by itself.
"""

from __future__ import annotations

import enum
from urllib.parse import urlsplit
from collections.abc import Callable
from typing import NamedTuple, Protocol


class StoreError(Exception):
    """The database could not do what was asked; the request may be retried."""

    retry_after = 1


class StoreBusy(StoreError):
    """The database stayed locked by others past the busy timeout."""

    retry_after = 1


class StoreUnavailable(StoreError):
    """The database cannot be reached, or cannot be written (full, read-only, gone)."""

    retry_after = 5


class CallerGone(Exception):
    """The caller's own session ended meanwhile (revoke-all, logout, password change elsewhere): nothing was done.

    Raised, in place of a result, by every verb that acts on behalf of a
    caller's session (guarantee 3); the web layer answers it with 401 and why
    the session ended. Not a StoreError: the database is fine, the caller is not.
    """

    def __init__(self, token_hash: bytes) -> None:
        super().__init__("the caller's session is no longer alive")
        self.token_hash = token_hash


# Why a session stopped working (EXT-REASON). "unauthenticated" is never
# stored: it is what a token with no row at all gets.
REVOKED = "revoked"
PASSWORD_CHANGED = "password_changed"
LOGGED_OUT = "logged_out"
EXPIRED = "expired"


class Cutoffs(NamedTuple):
    """A session is alive when last active after `idle` and created after `absolute` (ms)."""

    idle: int
    absolute: int


class UserRow(NamedTuple):
    id: str
    email: str
    password_hash: str


class SessionRow(NamedTuple):
    """A live session as authentication reads it (times in ms)."""

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
    name: str | None
    new_device: bool


class NewSession(NamedTuple):
    """A session to insert at login (times in ms)."""

    token_hash: bytes
    id: str
    user_id: str
    ip: str
    user_agent: str
    device_name: str
    new_device: bool
    now: int


class Event(NamedTuple):
    """One entry of the security log, as an action writes it (EXT-ACTIVITY).

    `count` is filled in by the store for the actions whose count only the
    transaction knows (sessions_revoked_all, password_changed).
    """

    type: str
    at: int  # ms
    ip: str
    device_name: str
    session_id: str | None = None
    actor_session_id: str | None = None
    count: int | None = None
    new_device: bool | None = None


class EventRow(NamedTuple):
    """An event as read back: `id` is the store's, `at` (and `last_at`) RFC 3339 UTC.

    A `login_failed` event stands for `count` failures from its address, the
    last of them at `last_at` (see `add_failed_login`).
    """

    id: str
    type: str
    at: str
    ip: str
    device_name: str
    session_id: str | None
    actor_session_id: str | None
    count: int | None
    new_device: bool | None
    last_at: str | None = None


class EndFacts(NamedTuple):
    """What the store knows of a token that did not authenticate (ms; None when unknown).

    The policy turns these into a reason: the earlier of the recorded end and
    the time the session would have expired wins.
    """

    reason: str | None  # from the row, or from its retired generation
    ended_at: int | None
    created_at: int
    last_active_at: int


class Outcome(enum.Enum):
    """The result of an action on one session chosen by public id."""

    DONE = "done"
    NOT_FOUND = "not_found"  # unknown, ended, or another user's: one answer


class DeviceHistory(NamedTuple):
    """What the log says of a (device name, ip) pair for one account."""

    seen_recently: bool  # a login from this pair since the cut-off
    any_login: bool  # any login of the account at all


class Attempts(NamedTuple):
    """A password-attempt counter (HARD-THROTTLE): how many, locked until when (0: not), last written (ms)."""

    count: int
    locked_until: int
    updated_at: int


class Store(Protocol):
    """The verbs the policy uses. Every method is safe from many threads and processes."""

    # -- accounts ------------------------------------------------------------
    def add_user(self, user_id: str, email: str, email_key: str, password_hash: str, now: int) -> bool:
        """Insert a user; False when the email key is taken."""

    def find_user(self, email_key: str) -> UserRow | None:
        """Return the user with this email key, or None."""

    def find_user_by_id(self, user_id: str) -> UserRow | None:
        """Return the user with this id, or None."""

    def replace_password_hash(self, user_id: str, old_hash: str, new_hash: str) -> bool:
        """Swap the stored hash if it is still `old_hash` (a rehash at login); False otherwise."""

    # -- sessions ------------------------------------------------------------
    def add_session(
        self,
        session: NewSession,
        max_live: int,
        cutoffs: Cutoffs,
        event: Event,
        password_hash: str | None = None,
        end_others: Event | None = None,
    ) -> int | None:
        """Insert a session in the user's current generation, and its login event; None if it may not be.

        With `password_hash` (the hash the login's password was checked
        against), the session is written only if that is still the user's
        hash, read under the lock a password change takes: a login racing a
        change either lands before it (and dies with its generation) or
        after it (and is refused: None). With `end_others` (EXT-RECOVER), the
        same transaction retires the user's generation, moves the new session
        on to the next one and logs `end_others` with the count: no revoke-all
        of another session can come between the two. Returns how many other
        live sessions ended (0 without `end_others`).

        When the user then has more than `max_live` live sessions, the least
        recently active ones end as expired, in the same transaction.
        """

    def find_session(self, token_hash: bytes, cutoffs: Cutoffs) -> SessionRow | None:
        """Return the live session with this token hash, or None: the hot path, one round trip."""

    def end_facts(self, token_hash: bytes) -> EndFacts | None:
        """Return what is known of a token's session whether alive or not; None if no row."""

    def touch_session(self, token_hash: bytes, now: int, stale_before: int, cutoffs: Cutoffs) -> bool:
        """Set last_active_at to `now` if older than `stale_before` and alive; True if written."""

    def list_sessions(self, user_id: str, cutoffs: Cutoffs) -> list[ListedSession]:
        """Return the user's live sessions, most recently active first."""

    # Each verb below acts for the session whose token hash is `caller`: it
    # raises CallerGone, having done nothing, when that session is not alive.

    def revoke_session(self, caller: bytes, public_id: str, cutoffs: Cutoffs, event: Event) -> Outcome:
        """End the caller's user's live session `public_id` (not the caller's own), with `event`."""

    def rename_session(
        self, caller: bytes, public_id: str, name: str | None, cutoffs: Cutoffs, event: Event
    ) -> ListedSession | None:
        """Name (or unname) one of the caller's user's live sessions, the caller's own included; None if none such."""

    def logout(self, token_hash: bytes, cutoffs: Cutoffs, event: Event) -> None:
        """End this live session, writing `event` (actor and subject: itself)."""

    def revoke_other_sessions(self, caller: bytes, cutoffs: Cutoffs, event: Event) -> int:
        """Retire the caller's generation, keeping the caller; return how many live ones ended."""

    def change_password(
        self, caller: bytes, new_hash: str, new_token_hash: bytes, cutoffs: Cutoffs, event: Event
    ) -> int:
        """Set the password, end every other session and move the caller to `new_token_hash`, in one step.

        Return how many other live sessions ended. A concurrent password
        change or revoke-all retires the caller, so of two changes exactly
        one wins. The old token keeps its reason.
        """

    # -- security log ----------------------------------------------------------
    def add_event(self, user_id: str, event: Event) -> None:
        """Write one event that belongs to no other action (a failed login)."""

    def add_failed_login(self, user_id: str, event: Event, since: int, max_open: int) -> None:
        """Record a failed login, folded so that a flood cannot grow the log (EXT-ACTIVITY).

        In one transaction: the account's `login_failed` event from the same
        address begun after `since` (ms) counts one more failure (count + 1,
        last_at = event.at); failing that, once the account has `max_open`
        such events begun after `since`, the newest of them does; else a new
        event with count 1 is written. At most `max_open` events per account
        per window, however many addresses guess.
        """

    def list_events(self, user_id: str, limit: int, before: str | None) -> list[EventRow] | None:
        """Return the user's events newest first, at most `limit`, older than event `before` if given.

        None when `before` is not the id of one of this user's events: a
        cursor handed out by this list, never a number to probe with.
        """

    def device_history(self, user_id: str, device_name: str, ip: str, since: int) -> DeviceHistory:
        """Tell whether the account logged in from this pair since `since` (ms), and at all."""

    # -- throttling (HARD-THROTTLE) ----------------------------------------------
    def update_attempts(self, key: bytes, decide: Callable[["Attempts | None"], "Attempts"]) -> "Attempts":
        """Read the counter of `key` and store what `decide` makes of it, in one transaction; return that.

        The row is locked meanwhile (across workers and instances), so
        concurrent attempts on one key count one after the other. What an
        attempt does to the counter is the policy's (impl/throttle.py).
        """

    def clear_attempts(self, key: bytes) -> None:
        """Forget the attempts of `key` (a successful login)."""

    # -- maintenance -------------------------------------------------------------
    def purge(self, absolute_cutoff: int, events_before: int, attempts_before: int) -> int:
        """Delete what nobody may ask about any more; return how many rows went.

        Sessions created before the absolute cut-off (dead, and their reason
        no longer owed), generations retired before it, events older than
        `events_before`, throttle counters untouched and unlocked since
        `attempts_before`. Runs outside the request
        path, in small transactions, on one instance at a time.
        """

    def checkpoint(self) -> None:
        """Do the backend's own housekeeping after a purge (SQLite: truncate the WAL)."""

    def schema_version(self) -> int:
        """Return the schema version the database records."""

    def upgrade_in_progress(self) -> bool:
        """Tell whether a schema upgrade is being applied to the database right now (readiness)."""

    def close(self) -> None:
        """Release this thread's (or the pool's) connections."""


def is_store_url(database: str) -> bool:
    """Tell whether a database setting names a PostgreSQL server rather than an SQLite file."""
    return database.startswith(("postgresql://", "postgres://"))


def describe_database(database: str) -> str:
    """Return the database setting as it may be printed: a URL loses its password (and any query)."""
    if not is_store_url(database):
        return database
    try:
        parts = urlsplit(database)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "the PostgreSQL database URL"
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"
