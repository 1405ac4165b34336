"""Password hashing with hashlib.scrypt, parameters stored beside each hash."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

_SCHEME = "scrypt"
_SALT_BYTES = 16
_KEY_BYTES = 32
# Current-parameter derivations remembered for the padding's median.
_COST_SAMPLES = 9


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class PasswordHasher:
    """Hash and verify passwords; the cost is (n, r, p) of scrypt.

    Theory of operation (HARD-ENUM): every call to
    `verify` takes the time of one derivation with the *current*
    parameters, whatever is stored, so that timing tells an attacker
    nothing about which emails have accounts:
    1. Unknown email, stored hash with the current parameters, or a stored
       value we cannot read: one derivation with the current parameters.
    2. A hash made with other parameters (after --scrypt-n changed): one
       derivation with the stored parameters, then `harden_runtime` waits
       out the difference to the measured cost of a current derivation,
       as Django's hashers do after their work factor is raised.
    scrypt's cost is not linear in n (memory beyond the caches costs more),
    so the padding is measured, not computed: each hasher keeps the
    durations of its last current-parameter derivations. Until it has one,
    the padding is a real current-parameter derivation (slower, never
    faster, than the unknown-email path). A stored hash that costs *more*
    than the current parameters (n lowered) cannot be padded down; the
    next successful login moves it to the current parameters (needs_rehash).
    """

    n: int = 2**14
    r: int = 8
    p: int = 1
    # Injected by tests: a clock in seconds and the matching sleep.
    clock: Callable[[], float] = field(default=time.perf_counter, repr=False, compare=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    # Durations of the last current-parameter derivations (seconds).
    _costs: deque[float] = field(default_factory=lambda: deque(maxlen=_COST_SAMPLES), repr=False, compare=False)

    def hash(self, password: str) -> str:
        """Return "scrypt$n$r$p$salt$key" for a new random salt."""
        salt = secrets.token_bytes(_SALT_BYTES)
        key = self._derive_current(password, salt)
        return f"{_SCHEME}${self.n}${self.r}${self.p}${_b64(salt)}${_b64(key)}"

    def verify(self, password: str, stored: str | None) -> bool:
        """Tell whether `password` matches `stored`, in the time of one current derivation.

        With `stored` None (no such user), or a stored value we cannot use,
        the same work is done against a throw-away salt.
        """
        params = _parse(stored) if stored is not None else None
        if params is None:
            self._derive_current(password, b"\0" * _SALT_BYTES)
            return False
        n, r, p, salt, expected = params
        if (n, r, p) == (self.n, self.r, self.p):
            actual = self._derive_current(password, salt, len(expected))
        else:
            started = self.clock()
            try:
                actual = _derive(password, salt, n, r, p, len(expected))
            except (ValueError, MemoryError):  # parameters OpenSSL refuses: deny, never crash
                actual = b""
            self.harden_runtime(password, self.clock() - started)
        return hmac.compare_digest(actual, expected)

    def harden_runtime(self, password: str, spent: float) -> None:
        """Wait until `spent` seconds of work reach the cost of one current derivation."""
        if not self._costs:
            # Nothing measured yet in this process: pay a real derivation.
            self._derive_current(password, b"\0" * _SALT_BYTES)
            return
        remaining = statistics.median(self._costs) - spent
        if remaining > 0:
            self.sleep(remaining)

    def needs_rehash(self, stored: str) -> bool:
        """Tell whether `stored` was made with other parameters than ours."""
        return not stored.startswith(f"{_SCHEME}${self.n}${self.r}${self.p}$")

    def _derive_current(self, password: str, salt: bytes, dklen: int = _KEY_BYTES) -> bytes:
        started = self.clock()
        key = _derive(password, salt, self.n, self.r, self.p, dklen)
        self._costs.append(self.clock() - started)
        return key


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    """Return (n, r, p, salt, key) of a stored hash, or None when it is not one of ours."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != _SCHEME:
            return None
        params = int(n), int(r), int(p)
        decoded = _unb64(salt), _unb64(key)
    except ValueError:
        return None
    if params[0] < 2 or params[0] & (params[0] - 1) or params[1] < 1 or params[2] < 1 or not decoded[1]:
        return None
    return (*params, *decoded)


def _derive(password: str, salt: bytes, n: int, r: int, p: int, dklen: int = _KEY_BYTES) -> bytes:
    # OpenSSL refuses anything over maxmem; scrypt needs about 128*r*(n+p)
    # bytes, so allow that with room to spare instead of the 32 MiB default.
    maxmem = 2 * 128 * r * (n + p) + (1 << 20)
    return hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen
    )
