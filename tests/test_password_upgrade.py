"""Raising --scrypt-n on a running deployment: old hashes move to the new cost at the next successful login."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import requests

from .servers import run_server_process

CREDENTIALS = {"email": "ann@example.com", "password": "correct horse"}


@contextlib.contextmanager
def server(workdir: Path, scrypt_n: int) -> Iterator[str]:
    """Run run_server.py with two workers and this scrypt cost; yield its URL."""
    with run_server_process(workdir, ["--scrypt-n", str(scrypt_n)], workers=2) as process:
        yield process.url


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
