"""Accounts: sign-up, credential checks and password change (CORE-SIGNUP, CORE-LOGIN, HARD-ENUM, EXT-PASSWORD)."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from .errors import BadRequest, Conflict, Forbidden, InvalidCredentials
from .passwords import PasswordHasher
from .sessions import LOGIN_FAILED, PASSWORD_CHANGED, Client, Session, SessionManager, new_token
from .store import Store
from .throttle import Throttle

MIN_PASSWORD = 8
# scrypt hashes any length, but a cap keeps a 64 KiB "password" from being
# a cheap way to make the server work; no password manager goes near it.
MAX_PASSWORD = 1024
MAX_EMAIL = 254  # RFC 5321's limit on a forward path
# The security log keeps what its owner needs of a guessing attack (which
# addresses, how many tries, until when) without one row per guess: the
# failures of one address within an hour are one login_failed event with a
# count and the time of the last, and past 5 addresses in that hour the
# newest event counts the rest. At most 5 events an hour per account,
# whatever the attacker's number of addresses (docs/decisions.md).
FAILED_LOGIN_WINDOW_MS = 3600 * 1000
FAILED_LOGIN_ADDRESSES = 5

# The WHATWG "valid email address" (what <input type=email> accepts): one @,
# a dot-atom-ish local part, and a domain of LDH labels. It accepts
# user@localhost, which is a real address on a developer's machine.
_EMAIL_RE = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


# A login whose checked hash changed before its session was written checks
# the password again against the new one: once for a rehash by a concurrent
# login, and then it gives up (a password changed twice meanwhile).
_LOGIN_TRIES = 3


@dataclass(frozen=True)
class User:
    id: str
    email: str
    # The stored hash a login's password was checked against (set by
    # check_credentials): its session is written only while it is still the user's.
    password_hash: str | None = field(default=None, repr=False)


def email_key(email: str) -> str:
    """Return the form in which emails are compared: case-insensitive."""
    return email.strip().lower()


def validate_email(email: str) -> str:
    """Return the email as stored (trimmed), or raise BadRequest."""
    email = email.strip()
    if len(email) > MAX_EMAIL or not _EMAIL_RE.fullmatch(email):
        raise BadRequest("email must be an email address.")
    return email


def validate_password(password: str, field: str = "password") -> str:
    """Return the password, or raise BadRequest when its length is out of bounds."""
    if len(password) < MIN_PASSWORD:
        raise BadRequest(f"{field} must be at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise BadRequest(f"{field} must be at most {MAX_PASSWORD} characters.")
    return password


class Accounts:
    """Sign users up, check their credentials, change their passwords."""

    def __init__(
        self,
        store: Store,
        hasher: PasswordHasher,
        sessions: SessionManager,
        throttle: Throttle,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.hasher = hasher
        self.sessions = sessions
        self.throttle = throttle
        self.clock = clock

    def signup(self, email: str, password: str) -> User:
        """Create an account; raise BadRequest or Conflict."""
        email = validate_email(email)
        validate_password(password)
        user = User(secrets.token_urlsafe(16), email)
        password_hash = self.hasher.hash(password)
        if not self.store.add_user(user.id, email, email_key(email), password_hash, int(self.clock() * 1000)):
            raise Conflict("An account with this email already exists.")
        return user

    def check_credentials(self, email: str, password: str, client: Client) -> User:
        """Return the user these credentials belong to; raise InvalidCredentials or TooManyAttempts.

        Unknown email and wrong password take the same time (one scrypt
        either way) and raise the same error, so neither the answer nor its
        timing tells an attacker which emails have accounts.
        """
        key = self.throttle.attempt(email_key(email), client.ip)
        row = self.store.find_user(email_key(email)) if len(email) <= MAX_EMAIL else None
        candidate = password if len(password) <= MAX_PASSWORD else ""
        ok = self.hasher.verify(candidate, row.password_hash if row else None)
        if not (row and ok and candidate):
            if row is not None:
                self._log_failure(row.id, client)
            raise InvalidCredentials()
        self.throttle.succeeded(key)
        checked = row.password_hash
        if self.hasher.needs_rehash(checked):
            rehashed = self.hasher.hash(password)
            if self.store.replace_password_hash(row.id, checked, rehashed):
                checked = rehashed
        return User(row.id, row.email, checked)

    def login(self, email: str, password: str, client: Client, end_others: bool = False) -> tuple[str, int | None]:
        """Check credentials and start a session; return its token and, with `end_others`, how many others ended.

        The session is written only if the hash the password was checked
        against is still the user's (EXT-PASSWORD): a login racing a password
        change lands before it (and the change ends it) or is refused like
        any wrong password. With `end_others` (EXT-RECOVER) the new session
        ends every other session of the user in the same step.
        """
        user = self.check_credentials(email, password, client)
        for _ in range(_LOGIN_TRIES):
            if end_others:
                started = self.sessions.start_alone(user.id, client, user.password_hash)
                if started is not None:
                    return started
            else:
                token = self.sessions.start(user.id, client, user.password_hash)
                if token is not None:
                    return token, None
            # The stored hash changed since the check: a password change
            # (the password no longer verifies) or a concurrent rehash (it does).
            row = self.store.find_user_by_id(user.id)
            if row is None or not self.hasher.verify(password, row.password_hash):
                if row is not None:
                    self._log_failure(row.id, client)
                raise InvalidCredentials()
            user = replace(user, password_hash=row.password_hash)
        raise InvalidCredentials()

    def _log_failure(self, user_id: str, client: Client) -> None:
        event = self.sessions.event(LOGIN_FAILED, client)
        self.store.add_failed_login(user_id, event, event.at - FAILED_LOGIN_WINDOW_MS, FAILED_LOGIN_ADDRESSES)

    def change_password(self, current: Session, current_password: str, new_password: str, client: Client) -> tuple[str, int]:
        """Change the password of the session's user; return the session's new token and how many others ended.

        The current password is checked first (and counted like a login
        attempt: HARD-THROTTLE); then one store transaction sets the new hash,
        ends every other session and moves this one to a new token, so there
        is no moment when the new password works and an old session still does.
        Raises CallerGone when the session was ended meanwhile.
        """
        validate_password(new_password, "newPassword")
        key = self.throttle.attempt(email_key(current.email), client.ip)
        row = self.store.find_user_by_id(current.user_id)
        candidate = current_password if len(current_password) <= MAX_PASSWORD else ""
        if row is None or not (self.hasher.verify(candidate, row.password_hash) and candidate):
            raise Forbidden("Current password is incorrect.")
        self.throttle.succeeded(key)
        token, token_hash = new_token()
        revoked = self.store.change_password(
            current.token_hash,
            self.hasher.hash(new_password),
            token_hash,
            self.sessions.cutoffs(),
            self.sessions.event(PASSWORD_CHANGED, client),
        )
        return token, revoked
