"""A stalled PostgreSQL server never stalls a worker's event loop.

The database is frozen with SIGSTOP (its postmaster and every backend: what
a frozen host or a long failover looks like to a client: connections stay
open, nothing answers) for at least three seconds, while the test holds it.
Meanwhile, on a one-worker server: GET /healthz keeps answering, a client
that sends half a body still gets its 408 at its body deadline, and
requests that need the store answer 503 with Retry-After at the store
timeout. All of that must happen before the database is let go again,
which is the whole assertion: a blocked loop would answer only after it.
Then the same server serves the same session again.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from . import postgres
from .servers import run_server_process

STALL = 3.0  # seconds the database stays frozen, at least
STORE_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def own_server() -> Iterator[postgres.Server]:
    server = postgres.start_own("freeze")
    yield server
    server.close()


def server_pids(server: postgres.Server) -> list[int]:
    """The postmaster and all its children."""
    postmaster = int(Path(server.folder, "data", "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                pids.append(int(entry))
    return pids


def half_a_body(host: str, port: int) -> bytes:
    """Send a login's headers and half its body, then nothing; return what the server answers."""
    with socket.create_connection((host, port), timeout=30) as s:
        s.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"email\"")
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
            if b"\r\n\r\n" in answer:
                break
        return answer


def test_a_frozen_database_leaves_health_checks_and_deadlines_alive_and_the_server_recovers(own_server, tmp_path):
    database = own_server.new_database()
    log = tmp_path / "stderr.log"
    server = run_server_process(
        tmp_path, ["--db", database, "--store-timeout", str(STORE_TIMEOUT), "--body-timeout", str(BODY_TIMEOUT)],
        log="stderr.log",
    )
    server.stop_timeout = 30
    frozen: list[int] = []
    try:
        url = server.start()
        host, port = url.removeprefix("http://").rsplit(":", 1)
        web = requests.Session()
        assert web.post(f"{url}/signup", json={"email": "ann@example.com", "password": "correct horse"}).status_code == 201
        assert web.post(f"{url}/login", json={"email": "ann@example.com", "password": "correct horse"}).status_code == 200
        assert web.get(f"{url}/me").status_code == 200
        cookies = web.cookies.get_dict()

        frozen = server_pids(own_server)
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        stalled_at = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            # Store requests first, so that they hold the worker's threads
            # while the rest is asked.
            store_calls = [pool.submit(requests.get, f"{url}/me", cookies=cookies, timeout=60) for _ in range(3)]
            store_calls.append(pool.submit(requests.post, f"{url}/login", timeout=60,
                                           json={"email": "ann@example.com", "password": "correct horse"}))
            slow_body = pool.submit(half_a_body, host, int(port))
            health = []
            for _ in range(20):
                started = time.monotonic()
                status = requests.get(f"{url}/healthz", timeout=60).status_code
                health.append((status, time.monotonic() - started))
            answered = [call.result(timeout=60) for call in store_calls]
            late_body = slow_body.result(timeout=60)
            # Everything above was answered with the database still frozen.
            still_frozen = all(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "T"
                               for pid in frozen)
        assert still_frozen, "the database was let go early: the assertions below would prove nothing"
        assert [status for status, _ in health] == [200] * 20
        assert late_body.startswith(b"HTTP/1.1 408"), late_body
        assert [r.status_code for r in answered] == [503] * 4, [(r.status_code, r.text) for r in answered]
        assert all(r.headers.get("Retry-After") for r in answered)
        print(f"slowest /healthz while frozen: {max(t for _, t in health) * 1000:.1f} ms")
    finally:
        time.sleep(max(0.0, STALL - (time.monotonic() - stalled_at)) if frozen else 0)
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        try:
            statuses = []
            if frozen:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    statuses.append(web.get(f"{url}/me", timeout=60).status_code)
                    if statuses[-1] == 200:
                        break
                    time.sleep(0.2)
        finally:
            server.stop()
    assert statuses[-1] == 200 and set(statuses) <= {200, 503}, statuses
    assert "Traceback" not in log.read_text()
