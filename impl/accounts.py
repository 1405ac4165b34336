"""Accounts: sign-up validation and credential checks (CORE-SIGNUP, CORE-LOGIN, HARD-ENUM)."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import BadRequest, Conflict, InvalidCredentials
from .passwords import PasswordHasher
from .store import SqliteStore

MIN_PASSWORD = 8
# scrypt hashes any length, but a cap keeps a 64 KiB "password" from being
# a cheap way to make the server work; no password manager goes near it.
MAX_PASSWORD = 1024
MAX_EMAIL = 254  # RFC 5321's limit on a forward path

# The WHATWG "valid email address" (what <input type=email> accepts): one @,
# a dot-atom-ish local part, and a domain of LDH labels. It accepts
# user@localhost, which is a real address on a developer's machine.
_EMAIL_RE = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


@dataclass(frozen=True)
class User:
    id: str
    email: str


def email_key(email: str) -> str:
    """Return the form in which emails are compared: case-insensitive."""
    return email.lower()


def validate_email(email: str) -> str:
    """Return the email as stored (trimmed), or raise BadRequest."""
    email = email.strip()
    if len(email) > MAX_EMAIL or not _EMAIL_RE.fullmatch(email):
        raise BadRequest("email must be an email address.")
    return email


def validate_password(password: str) -> str:
    """Return the password, or raise BadRequest when its length is out of bounds."""
    if len(password) < MIN_PASSWORD:
        raise BadRequest(f"password must be at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise BadRequest(f"password must be at most {MAX_PASSWORD} characters.")
    return password


class Accounts:
    """Sign users up and check their credentials."""

    def __init__(self, store: SqliteStore, hasher: PasswordHasher, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.hasher = hasher
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

    def check_credentials(self, email: str, password: str) -> User:
        """Return the user these credentials belong to; raise InvalidCredentials.

        Unknown email and wrong password take the same time (one scrypt
        either way) and raise the same error, so neither the answer nor its
        timing tells an attacker which emails have accounts.
        """
        row = self.store.find_user(email_key(email.strip())) if len(email) <= MAX_EMAIL else None
        candidate = password if len(password) <= MAX_PASSWORD else ""
        ok = self.hasher.verify(candidate, row.password_hash if row else None)
        if not (row and ok and candidate):
            raise InvalidCredentials()
        if self.hasher.needs_rehash(row.password_hash):
            self.store.set_password_hash(row.id, self.hasher.hash(password))
        return User(row.id, row.email)
