"""Session policy: tokens, public ids, expiry and activity, above the SQL of store.py.

Rules kept here (the store only executes them):
- A token is 32 bytes from `secrets` (256 bits), URL-safe base64: 43 chars.
  Only its SHA-256 reaches the database. A token of any other shape is
  refused before the database is asked (HARD-TOKEN, HARD-PUBLIC-ID).
- A session is alive while it was used within the idle timeout and created
  within the absolute timeout (HARD-IDLE, HARD-ABSOLUTE).
- Activity is recorded at most once per touch interval (CORE-LAST-ACTIVE).
- Revoking takes a user id and a public id; the store matches both, so no
  user can end, or learn about, another user's session (CORE-REVOKE).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import sqlite3
import time
from collections.abc import Callable
from typing import NamedTuple

from . import devices
from .config import Config
from .store import Cutoffs, ListedSession, SessionRow, SqliteStore

log = logging.getLogger(__name__)

_TOKEN_BYTES = 32
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")
_PUBLIC_ID_BYTES = 16
# Public ids are ours (22 chars), but accept any plausible id shape so that
# a foreign-looking id is simply "not found", like any unknown one.
_PUBLIC_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


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


def hash_token(token: str) -> bytes:
    """Return the digest stored for a token."""
    return hashlib.sha256(token.encode("ascii")).digest()


def is_well_formed_token(token: str) -> bool:
    """Tell whether a cookie value could be one of our tokens."""
    return _TOKEN_RE.fullmatch(token) is not None


def is_well_formed_public_id(public_id: str) -> bool:
    """Tell whether a path segment could be a session id at all."""
    return _PUBLIC_ID_RE.fullmatch(public_id) is not None


class SessionManager:
    """Create, authenticate, list and end sessions under one Config."""

    def __init__(self, store: SqliteStore, config: Config, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        # In milliseconds, computed once: this runs on every request.
        self._idle_ms = int(config.idle_timeout * 1000)
        self._absolute_ms = int(config.absolute_timeout * 1000)
        self._touch_ms = int(config.touch_interval * 1000)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _cutoffs(self, now_ms: int) -> Cutoffs:
        return Cutoffs(now_ms - self._idle_ms, now_ms - self._absolute_ms)

    def start(self, user_id: str, ip: str, user_agent: str | None) -> str:
        """Create a new session for a login; return its cookie token."""
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        token_hash = hash_token(token)
        public_id = secrets.token_urlsafe(_PUBLIC_ID_BYTES)
        ua = devices.clip_user_agent(user_agent)
        name = devices.device_name(ua)
        now_ms = self._now_ms()
        self.store.add_session(token_hash, public_id, user_id, ip, ua, name, now_ms)
        return token

    def authenticate(self, token: str | None) -> Session | None:
        """Return the live session for a cookie token, recording the activity."""
        if not token or not is_well_formed_token(token):
            return None
        token_hash = hash_token(token)
        now_ms = self._now_ms()
        cutoffs = self._cutoffs(now_ms)
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
        except sqlite3.OperationalError as exc:
            # Recording activity is best effort: a database busy beyond the
            # timeout must not fail a request whose session was valid. The
            # next request past the interval tries again.
            log.warning("could not record session activity: %s", exc)
            return False

    def list_for_user(self, user_id: str) -> list[ListedSession]:
        """Return the user's live sessions, most recently active first."""
        return self.store.list_sessions(user_id, self._cutoffs(self._now_ms()))

    def revoke(self, user_id: str, public_id: str) -> bool:
        """End one of the user's sessions by public id; False when it is not theirs or not alive."""
        if not is_well_formed_public_id(public_id):
            return False
        return self.store.delete_session(user_id, public_id, self._cutoffs(self._now_ms()))

    def revoke_others(self, current: Session) -> int:
        """End every session of the user except `current`; return how many."""
        return self.store.delete_other_sessions(current.user_id, current.token_hash, self._cutoffs(self._now_ms()))

    def end(self, token: str | None) -> bool:
        """End the session of a cookie token (logout); False when there was none."""
        if not token or not is_well_formed_token(token):
            return False
        return self.store.delete_session_by_token(hash_token(token))

    def purge_expired(self) -> int:
        """Delete expired sessions from the store; return how many."""
        return self.store.purge_expired(self._cutoffs(self._now_ms()))
