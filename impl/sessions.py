"""Session policy: tokens, public ids, expiry, activity, endings and their reasons, above the store.

Rules kept here (the store only executes them, on whichever backend):
- A token is 32 bytes from `secrets` (256 bits), URL-safe base64: 43 chars.
  Only its SHA-256 reaches the database. A token of any other shape is
  refused before the database is asked (HARD-TOKEN, HARD-PUBLIC-ID).
- A session is alive while it was used within the idle timeout and created
  within the absolute timeout (HARD-IDLE, HARD-ABSOLUTE), and not ended.
- Activity is recorded at most once per touch interval (CORE-LAST-ACTIVE).
- Every ending action names its caller by token hash, and the store re-checks
  in the same transaction that the caller is still alive (CORE-REVOKE,
  CORE-REVOKE-ALL, CORE-LOGOUT, EXT-PASSWORD): a caller ended meanwhile gets
  401, never a 200 for an action it no longer had the right to take.
- Revoking takes the caller's user and a public id; the store matches both,
  so no user can end, rename or learn about another user's session.
- Why a token stopped working is read only on the 401 path (EXT-REASON): the
  authenticated hot path pays nothing for it.
- A user keeps at most `max_sessions_per_user` live sessions; a login past
  that ends the least recently active one, which then reads as expired.
- A login carries the password hash it checked into the store, which writes
  the session only if that hash is still the user's (EXT-PASSWORD); a login
  that ends every other session (EXT-RECOVER) does both in one transaction.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import NamedTuple

from . import devices
from .config import Config
from .store import CallerGone, Cutoffs, Event, ListedSession, NewSession, Outcome, SessionRow, Store, StoreError
from .store.base import EXPIRED

log = logging.getLogger(__name__)

_TOKEN_BYTES = 32
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")
_PUBLIC_ID_BYTES = 16
# Public ids are ours (22 chars), but accept any plausible id shape so that
# a foreign-looking id is simply "not found", like any unknown one.
_PUBLIC_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
# EXT-NEW-DEVICE: a (device name, ip) pair seen in a login this recently is known.
NEW_DEVICE_WINDOW = 90 * 24 * 3600
UNAUTHENTICATED = "unauthenticated"

# Security-log event types (EXT-ACTIVITY).
LOGIN = "login"
LOGIN_FAILED = "login_failed"
LOGOUT = "logout"
SESSION_REVOKED = "session_revoked"
SESSIONS_REVOKED_ALL = "sessions_revoked_all"
PASSWORD_CHANGED = "password_changed"
SESSION_RENAMED = "session_renamed"


class Session(NamedTuple):
    """A live session as the routes see it (never with its token)."""

    id: str
    user_id: str
    email: str
    ip: str
    device_name: str
    created_at: float  # seconds since the epoch
    last_active_at: float
    token_hash: bytes

    @classmethod
    def from_row(cls, row: SessionRow, token_hash: bytes) -> "Session":
        id_, user_id, email, ip, device_name, created_ms, last_active_ms = row
        return cls(id_, user_id, email, ip, device_name, created_ms / 1000, last_active_ms / 1000, token_hash)


class Client(NamedTuple):
    """Who made a request: its address as trusted, and its User-Agent (clipped)."""

    ip: str
    user_agent: str

    @classmethod
    def of(cls, ip: str, user_agent: str | None) -> "Client":
        return cls(ip, devices.clip_user_agent(user_agent))

    @property
    def device_name(self) -> str:
        return devices.device_name(self.user_agent)


def hash_token(token: str) -> bytes:
    """Return the digest stored for a token."""
    return hashlib.sha256(token.encode("ascii")).digest()


def new_token() -> tuple[str, bytes]:
    """Return a fresh cookie token and its stored hash."""
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    return token, hash_token(token)


def is_well_formed_token(token: str) -> bool:
    """Tell whether a cookie value could be one of our tokens."""
    return _TOKEN_RE.fullmatch(token) is not None


def is_well_formed_public_id(public_id: str) -> bool:
    """Tell whether a path segment could be a session id at all."""
    return _PUBLIC_ID_RE.fullmatch(public_id) is not None


class SessionManager:
    """Create, authenticate, list, rename and end sessions under one Config."""

    def __init__(self, store: Store, config: Config, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        # In milliseconds, computed once: this runs on every request.
        self._idle_ms = int(config.idle_timeout * 1000)
        self._absolute_ms = int(config.absolute_timeout * 1000)
        self._touch_ms = int(config.touch_interval * 1000)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def cutoffs(self, now_ms: int | None = None) -> Cutoffs:
        """Return the cut-offs that decide which sessions are alive at `now_ms` (default: now)."""
        now_ms = self.now_ms() if now_ms is None else now_ms
        return Cutoffs(now_ms - self._idle_ms, now_ms - self._absolute_ms)

    def event(self, type_: str, client: Client) -> Event:
        """Return a log event of `type_` made now by `client` (the store fills in the session ids)."""
        return Event(type_, self.now_ms(), client.ip, client.device_name)

    def start(self, user_id: str, client: Client, password_hash: str | None = None) -> str | None:
        """Create a new session for a login, with its login event; return its cookie token.

        None when `password_hash`, the hash the login checked its password
        against, is no longer the user's when the session would be written:
        the password changed meanwhile, and the login must fail (EXT-PASSWORD).
        """
        started = self._begin(user_id, client, password_hash, end_others=False)
        return started[0] if started else None

    def start_alone(self, user_id: str, client: Client, password_hash: str | None = None) -> tuple[str, int] | None:
        """Create a new session and end every other one of the user in one step (EXT-RECOVER).

        Return its cookie token and how many other live sessions ended; None
        as for start(). No revoke-all from another session can come between
        the two: a thief looping on revoke-all with a stolen cookie loses.
        """
        return self._begin(user_id, client, password_hash, end_others=True)

    def _begin(self, user_id: str, client: Client, password_hash: str | None, end_others: bool) -> tuple[str, int] | None:
        token, token_hash = new_token()
        name = client.device_name
        now_ms = self.now_ms()
        seen = self.store.device_history(user_id, name, client.ip, now_ms - NEW_DEVICE_WINDOW * 1000)
        # The first login of an account is no news: every device is new then.
        new_device = seen.any_login and not seen.seen_recently
        session = NewSession(
            token_hash, secrets.token_urlsafe(_PUBLIC_ID_BYTES), user_id, client.ip, client.user_agent, name,
            new_device, now_ms,
        )
        event = Event(LOGIN, now_ms, client.ip, name, new_device=new_device)
        revoke_all = Event(SESSIONS_REVOKED_ALL, now_ms, client.ip, name) if end_others else None
        ended = self.store.add_session(
            session, self.config.max_sessions_per_user, self.cutoffs(now_ms), event, password_hash, revoke_all
        )
        return None if ended is None else (token, ended)

    def authenticate(self, token: str | None) -> Session | None:
        """Return the live session for a cookie token, recording the activity."""
        if not token or not is_well_formed_token(token):
            return None
        token_hash = hash_token(token)
        now_ms = self.now_ms()
        cutoffs = self.cutoffs(now_ms)
        row = self.store.find_session(token_hash, cutoffs)
        if row is None:
            return None
        stale_before = now_ms - self._touch_ms
        if row.last_active_at < stale_before and self._touch(token_hash, now_ms, stale_before, cutoffs):
            row = row._replace(last_active_at=now_ms)
        return Session.from_row(row, token_hash)

    def _touch(self, token_hash: bytes, now_ms: int, stale_before: int, cutoffs: Cutoffs) -> bool:
        try:
            return self.store.touch_session(token_hash, now_ms, stale_before, cutoffs)
        except StoreError as exc:
            # Recording activity is best effort: a database busy beyond the
            # timeout must not fail a request whose session was valid. The
            # next request past the interval tries again.
            log.warning("could not record session activity: %s", exc)
            return False

    def why_not(self, token: str | None) -> str:
        """Say why a cookie does not authenticate (EXT-REASON): read only on the 401 path.

        The earlier of the recorded end and the moment the session would
        have expired wins: a session that idled out and was revoked later
        had expired.
        """
        if not token or not is_well_formed_token(token):
            return UNAUTHENTICATED
        return self.why_ended(hash_token(token))

    def why_ended(self, token_hash: bytes) -> str:
        """Say why the session of a token hash no longer authenticates (see why_not)."""
        facts = self.store.end_facts(token_hash)
        if facts is None:
            return UNAUTHENTICATED
        expires_at = min(facts.last_active_at + self._idle_ms, facts.created_at + self._absolute_ms)
        if facts.reason is not None and facts.ended_at is not None and facts.ended_at < expires_at:
            return facts.reason
        if expires_at <= self.now_ms():
            return EXPIRED
        return facts.reason or UNAUTHENTICATED

    def list_for_user(self, user_id: str) -> list[ListedSession]:
        """Return the user's live sessions, most recently active first."""
        return self.store.list_sessions(user_id, self.cutoffs())

    # The actions below raise CallerGone (from the store, having done
    # nothing) when `current` was ended while its request was on the way.

    def revoke(self, current: Session, public_id: str, client: Client) -> Outcome:
        """End one of the caller's user's other sessions by public id."""
        if not is_well_formed_public_id(public_id):
            return Outcome.NOT_FOUND
        return self.store.revoke_session(current.token_hash, public_id, self.cutoffs(), self.event(SESSION_REVOKED, client))

    def rename(self, current: Session, public_id: str, name: str | None, client: Client) -> ListedSession | None:
        """Name one of the caller's user's sessions (None removes the name); return it, or None if not found."""
        if not is_well_formed_public_id(public_id):
            return None
        return self.store.rename_session(
            current.token_hash, public_id, name, self.cutoffs(), self.event(SESSION_RENAMED, client)
        )

    def revoke_others(self, current: Session, client: Client) -> int:
        """End every session of the user except `current`; return how many."""
        return self.store.revoke_other_sessions(current.token_hash, self.cutoffs(), self.event(SESSIONS_REVOKED_ALL, client))

    def end(self, token: str | None, client: Client) -> bool:
        """End the session of a cookie token (logout); False when there was none alive."""
        if not token or not is_well_formed_token(token):
            return False
        try:
            self.store.logout(hash_token(token), self.cutoffs(), self.event(LOGOUT, client))
        except CallerGone:
            return False
        return True

    def purge_expired(self) -> int:
        """Delete what nobody may ask about any more: sessions past their absolute timeout, old events."""
        now_ms = self.now_ms()
        return self.store.purge(
            now_ms - self._absolute_ms,
            now_ms - int(self.config.event_retention * 1000),
            now_ms - int(self.config.throttle_lockout * 1000),
        )
