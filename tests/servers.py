"""Start run_server.py as a person does: for the CLI, browser and tutorial walkthrough tests."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from conformance.server_process import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
# Cheap password hashing: these tests are not about scrypt's cost.
TEST_ARGS = ("--scrypt-n", "1024", "--no-access-log")
# A second stdout line comes right after the first, or not at all.
SECOND_LINE_TIMEOUT = 10.0


def run_server_process(
    workdir: Path, args: Sequence[str] = (), workers: int = 1, *, log: str = "server-stderr.log", new_session: bool = False
) -> ServerProcess:
    """Return (not yet started) `run_server.py --port 0 --db WORKDIR/s.db ... ARGS`, run in WORKDIR.

    The caller's `args` come last, so they win over the defaults before them
    (argparse keeps the last value): `--db URL` or `--scrypt-n 256` are the
    caller's to choose. stderr goes to WORKDIR/LOG, and the server runs in
    WORKDIR, not the repository: nothing may depend on the current folder.
    One worker unless asked: most tests are not about granian's processes.
    """
    argv = [sys.executable, str(ROOT / "run_server.py"), "--port", "0", "--db", str(workdir / "s.db"),
            *TEST_ARGS, "--workers", str(workers), *args]  # fmt: skip
    return ServerProcess(
        argv,
        name="run_server.py",
        cwd=workdir,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=workdir / log,
        new_session=new_session,
    )


@contextlib.contextmanager
def running_server(workdir: Path, args: Sequence[str] = (), workers: int = 1) -> Iterator[str]:
    """Run `run_server.py --port 0 --db WORKDIR/s.db ... ARGS` until the block ends; yield its base URL."""
    with started_server(workdir, args, workers) as (url, _):
        yield url


@contextlib.contextmanager
def started_server(workdir: Path, args: Sequence[str] = (), workers: int = 1) -> Iterator[tuple[str, str]]:
    """Like running_server, but yield the base URL and the second stdout line (where the data lives)."""
    with run_server_process(workdir, args, workers) as server:
        yield server.url, server.next_line(SECOND_LINE_TIMEOUT) or ""
