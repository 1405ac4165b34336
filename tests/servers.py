"""Start run_server.py as a person does: for the CLI, browser and tutorial walkthrough tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Cheap password hashing: these tests are not about scrypt's cost.
TEST_ARGS = ("--scrypt-n", "1024", "--no-access-log")


@contextlib.contextmanager
def running_server(workdir: Path, args: Sequence[str] = (), workers: int = 1) -> Iterator[str]:
    """Run `run_server.py ARGS --port 0 --db WORKDIR/s.db ...` until the block ends; yield its base URL."""
    with started_server(workdir, args, workers) as (url, _):
        yield url


@contextlib.contextmanager
def started_server(workdir: Path, args: Sequence[str] = (), workers: int = 1) -> Iterator[tuple[str, str]]:
    """Like running_server, but yield the base URL and the second stdout line (where the data lives).

    The overrides come last, so they win over anything in `args` (argparse
    keeps the last value). The URL is read from the server's first stdout
    line, `listening on http://HOST:PORT`. One worker unless asked: most
    tests are not about granian's processes.
    """
    log_path = workdir / "server-stderr.log"
    # stderr to a file: an unread pipe would fill up and stall the server.
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "run_server.py"), *args,
             "--port", "0", "--db", str(workdir / "s.db"), *TEST_ARGS, "--workers", str(workers)],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            cwd=workdir,  # not the repo: nothing may depend on the current directory
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    try:
        first = proc.stdout.readline().strip() if proc.stdout else ""
        if not first.startswith("listening on http://"):
            raise AssertionError(f"run_server.py said {first!r}; stderr: {log_path.read_text()[-2000:]}")
        second = proc.stdout.readline().strip() if proc.stdout else ""
        yield first.removeprefix("listening on "), second
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
