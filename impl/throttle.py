"""Password-guessing brakes (HARD-THROTTLE), counted in the store so they hold across workers and instances.

Rules:
- The key is (email as compared, client address), hashed: one address cannot
  lock an account out for anyone else, and the table holds no email.
- An email with no account is counted and refused exactly like one with an
  account, so a 429 tells nothing about which accounts exist (HARD-ENUM).
- An attempt is counted before its password is checked: guesses sent all at
  once cannot slip past the limit while the first ones are being hashed.
- Past `throttle_limit` attempts without a success, the key is refused for
  `throttle_lockout` seconds; a success forgets the count. The current-password
  check of a password change (EXT-PASSWORD) counts under the same key.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable

from .config import Config
from .errors import TooManyAttempts
from .store import Attempts, Store


class Throttle:
    """Count and refuse password attempts per (account email, client address)."""

    def __init__(self, store: Store, config: Config, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.limit = config.throttle_limit
        self.lockout_ms = int(config.throttle_lockout * 1000)
        self.clock = clock

    @staticmethod
    def key(email_key: str, ip: str) -> bytes:
        return hashlib.sha256(f"{email_key}\n{ip}".encode("utf-8", "surrogatepass")).digest()

    def attempt(self, email_key: str, ip: str) -> bytes:
        """Count an attempt and return its key; raise TooManyAttempts (429) when the key is locked."""
        key = self.key(email_key, ip)
        if self.limit:
            now = int(self.clock() * 1000)
            state = self.store.update_attempts(key, lambda old: self.counted(old, now))
            if state.locked_until > now:
                raise TooManyAttempts(retry_after=max(1, math.ceil((state.locked_until - now) / 1000)))
        return key

    def counted(self, old: Attempts | None, now: int) -> Attempts:
        """Return the counter after one more attempt at `now` (ms): the whole rule, in one place.

        A locked key stays as it is (the lock is not prolonged: the owner's
        wait ends when it was told). A lock served, or a quiet spell as long
        as a lockout, starts the count afresh. Past the limit, the key is
        locked for the lockout from now.
        """
        if old is not None and old.locked_until > now:
            return old
        fresh = old is None or old.locked_until or old.updated_at <= now - self.lockout_ms
        count = (0 if fresh else old.count) + 1
        return Attempts(count, now + self.lockout_ms if count > self.limit else 0, now)

    def succeeded(self, key: bytes) -> None:
        """Forget the attempts of a key whose password was right."""
        if self.limit:
            self.store.clear_attempts(key)
