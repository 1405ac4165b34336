"""Online backup of the SQLite database: a consistent copy, taken while the server runs and writes.

    sessions-backup /backups/sessions.db                  # the default database
    sessions-backup --db /srv/sessions/s.db /backups/sessions.db
    python -m impl.backup --db /srv/sessions/s.db /backups/sessions.db

SQLite's online backup API copies the database in one step, inside one read
transaction: under WAL a read never blocks the server's writers, nor they
it, and the copy is the database exactly as it was at one commit. Every
change acknowledged before the backup began is in it; none is half in it.
The copy is written next to its destination, checked (`PRAGMA
quick_check`), flushed to disk, and only then renamed over the destination,
so a backup interrupted halfway never replaces a good one.

To restore, stop the server, put the copy where --db points (removing any
`-wal` and `-shm` files left beside the old file), and start it again.
PostgreSQL databases are backed up with PostgreSQL's own pg_dump
(docs/production.md).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from collections.abc import Sequence
from typing import NamedTuple

from .config import ENV_PREFIX, default_db_path
from .store import is_store_url


class Report(NamedTuple):
    source: str
    destination: str
    schema_version: int
    users: int
    sessions: int
    events: int
    size: int
    taken_at: float


def backup(source: str, destination: str) -> Report:
    """Copy the SQLite database at `source` to `destination`, consistently, while others write; return what was copied."""
    if not os.path.isfile(source):
        raise FileNotFoundError(f"no database at {source}")
    if os.path.exists(destination) and os.path.samefile(source, destination):
        raise ValueError("the destination is the database itself")
    partial = destination + ".partial"
    for leftover in (partial, partial + "-wal", partial + "-shm", partial + "-journal"):
        if os.path.exists(leftover):
            os.unlink(leftover)
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(partial)
        try:
            taken_at = time.time()
            # pages=-1: the whole database in one step, so one snapshot; a
            # stepwise copy would restart whenever the server commits.
            src.backup(dst, pages=-1)
            problem = dst.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise sqlite3.DatabaseError(f"the copy failed its check: {problem}")
            counts = [dst.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                      for table in ("users", "sessions", "events")]
            version = dst.execute("PRAGMA user_version").fetchone()[0]
        finally:
            dst.close()
    finally:
        src.close()
    # The copy keeps the source's WAL mode (a property of the file, which a
    # restored server relies on); closing its last connection folded its
    # -wal back into it, so it is one file.
    with open(partial, "rb") as f:
        os.fsync(f.fileno())
    os.replace(partial, destination)
    folder = os.open(os.path.dirname(os.path.abspath(destination)), os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a power cut
    finally:
        os.close(folder)
    return Report(source, destination, version, *counts, os.path.getsize(destination), taken_at)


def main(argv: Sequence[str] | None = None) -> int:
    """Back up the database the server uses (same --db and SESSIONS_DB_PATH) to the file named."""
    parser = argparse.ArgumentParser(
        prog="sessions-backup", description=__doc__.splitlines()[0],
        epilog="PostgreSQL: use pg_dump (docs/production.md).",
    )
    parser.add_argument("--db", default=os.environ.get(ENV_PREFIX + "DB_PATH") or default_db_path(),
                        help="the SQLite file the server uses [SESSIONS_DB_PATH]")
    parser.add_argument("destination", help="the file to write the copy to (replaced atomically)")
    args = parser.parse_args(argv)
    if is_store_url(args.db):
        print("sessions-backup: --db is a PostgreSQL URL: back it up with pg_dump (see docs/production.md)",
              file=sys.stderr)
        return 2
    try:
        report = backup(os.path.abspath(args.db), os.path.abspath(args.destination))
    except (OSError, ValueError, sqlite3.Error) as exc:
        print(f"sessions-backup: cannot back up {args.db}: {exc}", file=sys.stderr)
        return 1
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(report.taken_at))
    print(f"backed up {report.source} to {report.destination} as of {when}: schema version "
          f"{report.schema_version}, {report.users} users, {report.sessions} sessions, {report.events} events, "
          f"{report.size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
