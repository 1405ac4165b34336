"""Fill a PostgreSQL database with the same rows bench/seed.py writes into SQLite, through COPY.

The rows are Seeder's own (users, and sessions shaped like a login's); only
the writing differs: the server's schema (impl.store.postgres applies it),
then COPY of users and sessions, then ANALYZE so the planner knows the
table's size, as autovacuum would soon after a real load.
"""

from __future__ import annotations

import psycopg

from impl.store.postgres import PostgresStore
from seed import _SESSION_COLUMNS, _USER_COLUMNS, Seeder


class PostgresSeeder(Seeder):
    """A Seeder whose `write` fills the PostgreSQL database at the URL given as its path."""

    def write(self) -> None:
        PostgresStore(self.path, min_size=0).close()  # the server's schema
        with psycopg.connect(self.path) as conn:
            conn.execute("SET synchronous_commit = off")  # bulk loading: a crash just means seeding again
            with conn.cursor() as cur:
                with cur.copy(f"COPY users ({', '.join(_USER_COLUMNS)}) FROM STDIN") as copy:
                    for row in self._users:
                        copy.write_row(row)
                # Every seeded session is a fresh user's, so generation 0 is what a login stores.
                columns = ", ".join((*_SESSION_COLUMNS, "generation"))
                with cur.copy(f"COPY sessions ({columns}) FROM STDIN") as copy:
                    for row in self._sessions:
                        copy.write_row((*row, 0))
            conn.commit()
            conn.autocommit = True
            conn.execute("ANALYZE")
        self._users.clear()
        self._sessions.clear()
