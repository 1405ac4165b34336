"""Fill a database with users and sessions shaped like the server's own, without HTTP.

Logging in through HTTP costs one scrypt per session (~60 ms), so a million
sessions would take hours; the benchmark writes the rows straight into the
SQLite file instead, before the server starts. The schema is the server's own
(impl.store.sqlite.SqliteStore applies it), and every row looks like one a login
writes: token_hash is the SHA-256 of a real random token, ids come from
`secrets`, device names from the server's own UA parser, timestamps in ms.
All rows of one Seeder go in one transaction, with executemany.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import sqlite3
import time
from collections.abc import Iterator, Sequence

from impl import devices  # the bench may import impl; the conformance suite may not
from impl.store.sqlite import SqliteStore

# Real browsers' User-Agents: each row gets one, and the device name the server would give it.
USER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "curl/8.5.0",
)

# A stored password hash of the server's format; nobody logs in as a seeded user.
_FAKE_PASSWORD_HASH = "scrypt$16384$8$1$" + "A" * 22 + "$" + "B" * 43


class Seeder:
    """Collect users and live sessions, then write them to one database file in one transaction."""

    def __init__(self, path: str, now_ms: int | None = None, rng: random.Random | None = None) -> None:
        self.path = path
        self.now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        self.rng = rng or random.Random()
        self._names = {ua: devices.device_name(ua) for ua in USER_AGENTS}
        self._users: list[tuple[object, ...]] = []
        self._sessions: list[tuple[object, ...]] = []

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    def add_users(self, count: int, label: str) -> list[str]:
        """Add `count` users; return their ids."""
        ids = [_urlsafe(raw) for raw in _chunks(os.urandom(16 * count), 16)]
        for i, uid in enumerate(ids):
            email = f"{label}-{i}@bench.example"
            self._users.append((uid, email, email, _FAKE_PASSWORD_HASH, self.now_ms))
        return ids

    def add_sessions(
        self, user_ids: Sequence[str], per_user: int, *, stale: bool = True, keep_tokens: int | None = None
    ) -> list[str]:
        """Give every user `per_user` live sessions; return the cookie tokens of the first `keep_tokens`.

        Sessions are alive for at least 20 more minutes (idle timeout 30 min,
        absolute 24 h). With `stale`, last_active_at lies 2-10 minutes back, so
        the first request of each session writes it once (as a returning
        device does); otherwise it is now, and no request writes for a minute.
        The first `keep_tokens` sessions belong to as many different users as
        there are.
        """
        total = len(user_ids) * per_user
        limit = total if keep_tokens is None else min(keep_tokens, total)
        rng, now, names = self.rng, self.now_ms, self._names
        tokens = os.urandom(32 * total)
        public_ids = os.urandom(16 * total)
        kept: list[str] = []
        for n in range(total):
            # Exactly secrets.token_urlsafe(32) and (16), drawn in bulk.
            token = _urlsafe(tokens[32 * n : 32 * n + 32])
            if n < limit:
                kept.append(token)
            ua = USER_AGENTS[rng.randrange(len(USER_AGENTS))]
            last_active = now - (rng.randrange(120_000, 600_000) if stale else 0)
            self._sessions.append(
                (
                    hashlib.sha256(token.encode("ascii")).digest(),
                    _urlsafe(public_ids[16 * n : 16 * n + 16]),
                    user_ids[n % len(user_ids)],
                    f"198.51.100.{rng.randrange(1, 255)}",  # TEST-NET-2: data only, never contacted
                    ua,
                    names[ua],
                    last_active - rng.randrange(0, 12 * 3600 * 1000),
                    last_active,
                )
            )
        return kept

    def write(self) -> None:
        """Write everything in one transaction, with the server's schema and indexes."""
        SqliteStore(self.path).close()  # the server's schema, WAL mode and all
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            # Bulk loading only: nobody else has the file open yet, and a
            # crash here just means seeding again.
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("PRAGMA cache_size = -1000000")  # up to ~1 GB of page cache
            indexes = conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sessions'"
                " AND sql IS NOT NULL"
            ).fetchall()
            users_sql = _insert(conn, "users", _USER_COLUMNS)
            sessions_sql = _insert(conn, "sessions", _SESSION_COLUMNS)
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(users_sql, self._users)
            # Rows in key order and secondary indexes built afterwards (the
            # schema's own CREATE INDEX statements): 1M rows in ~20 s, not 60.
            for name, _ in indexes:
                conn.execute(f'DROP INDEX "{name}"')
            self._sessions.sort()
            conn.executemany(sessions_sql, self._sessions)
            for _, sql in indexes:
                conn.execute(sql)
            conn.execute("COMMIT")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            conn.close()
        SqliteStore(self.path).close()  # and the schema check passes on the result
        self._users.clear()
        self._sessions.clear()


# The columns each row above fills, in order.
_USER_COLUMNS = ("id", "email", "email_key", "password_hash", "created_at")
_SESSION_COLUMNS = ("token_hash", "id", "user_id", "ip", "user_agent", "device_name", "created_at", "last_active_at")
# Required columns that rows do not carry, and what a fresh login would store:
# a new user's generation is 0, and so is that of the sessions it logs in.
_CONSTANTS = {("sessions", "generation"): "0"}


def _insert(conn: sqlite3.Connection, table: str, columns: Sequence[str]) -> str:
    """Return the INSERT for `columns` of `table`, plus any required column the schema grew since.

    The schema is the server's (read from the file), so a new NOT NULL column
    without a default must be taught here rather than silently guessed.
    """
    names, values = list(columns), ["?"] * len(columns)
    for _, name, _, notnull, default, pk in conn.execute(f"PRAGMA table_info({table})"):
        if name in columns or not notnull or default is not None or pk:
            continue
        if (table, name) not in _CONSTANTS:
            raise RuntimeError(f"bench/seed.py does not know what to store in the new column {table}.{name}")
        names.append(name)
        values.append(_CONSTANTS[(table, name)])
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(values)})"


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


def _urlsafe(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
