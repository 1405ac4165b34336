"""Raising --scrypt-n on a running deployment: old hashes move to the new cost at the next successful login."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import requests

from .servers import ROOT

CREDENTIALS = {"email": "ann@example.com", "password": "correct horse"}


@contextlib.contextmanager
def server(workdir: Path, scrypt_n: int) -> Iterator[str]:
    """Run run_server.py with two workers and this scrypt cost; yield its URL."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "run_server.py"), "--port", "0", "--db", str(workdir / "s.db"),
         "--scrypt-n", str(scrypt_n), "--workers", "2", "--no-access-log"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=workdir,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on http://"), line
        yield line.strip().removeprefix("listening on ")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        if proc.stdout:
            proc.stdout.close()


def stored_cost(workdir: Path) -> str:
    with contextlib.closing(sqlite3.connect(workdir / "s.db")) as db:
        (stored,) = db.execute("SELECT password_hash FROM users").fetchone()
    return stored.split("$")[1]


def test_stored_hash_moves_to_the_new_cost_at_the_next_successful_login_only(tmp_path):
    with server(tmp_path, 256) as url:
        assert requests.post(f"{url}/signup", json=CREDENTIALS, timeout=10).status_code == 201
    assert stored_cost(tmp_path) == "256"
    with server(tmp_path, 1024) as url:
        # Several wrong passwords, possibly on both workers: nothing changes.
        for _ in range(4):
            wrong = requests.post(f"{url}/login", json={**CREDENTIALS, "password": "wrong horse"}, timeout=10)
            assert wrong.status_code == 401
        assert stored_cost(tmp_path) == "256"
        assert requests.post(f"{url}/login", json=CREDENTIALS, timeout=10).status_code == 200
        assert stored_cost(tmp_path) == "1024"
        # And the upgraded hash still lets the user in, on any worker.
        for _ in range(4):
            assert requests.post(f"{url}/login", json=CREDENTIALS, timeout=10).status_code == 200
