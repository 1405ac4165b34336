"""Password hashing with hashlib.scrypt, parameters stored beside each hash."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

_SCHEME = "scrypt"
_SALT_BYTES = 16
_KEY_BYTES = 32


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class PasswordHasher:
    """Hash and verify passwords; the cost is (n, r, p) of scrypt."""

    n: int = 2**14
    r: int = 8
    p: int = 1

    def hash(self, password: str) -> str:
        """Return "scrypt$n$r$p$salt$key" for a new random salt."""
        salt = secrets.token_bytes(_SALT_BYTES)
        key = _derive(password, salt, self.n, self.r, self.p)
        return f"{_SCHEME}${self.n}${self.r}${self.p}${_b64(salt)}${_b64(key)}"

    def verify(self, password: str, stored: str | None) -> bool:
        """Tell whether `password` matches `stored`.

        With `stored` None (no such user) the same work is done against a
        throw-away hash, so an unknown email costs as much time as a wrong
        password and timing tells nothing about which accounts exist.
        """
        if stored is None:
            _derive(password, b"\0" * _SALT_BYTES, self.n, self.r, self.p)
            return False
        try:
            scheme, n, r, p, salt, key = stored.split("$")
            if scheme != _SCHEME:
                return False
            expected = _unb64(key)
            actual = _derive(password, _unb64(salt), int(n), int(r), int(p), len(expected))
        except ValueError:
            # A corrupt stored hash must deny, never crash the login.
            return False
        return hmac.compare_digest(actual, expected)

    def needs_rehash(self, stored: str) -> bool:
        """Tell whether `stored` was made with other parameters than ours."""
        return not stored.startswith(f"{_SCHEME}${self.n}${self.r}${self.p}$")


def _derive(password: str, salt: bytes, n: int, r: int, p: int, dklen: int = _KEY_BYTES) -> bytes:
    # OpenSSL refuses anything over maxmem; scrypt needs about 128*r*(n+p)
    # bytes, so allow that with room to spare instead of the 32 MiB default.
    maxmem = 2 * 128 * r * (n + p) + (1 << 20)
    return hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen
    )
