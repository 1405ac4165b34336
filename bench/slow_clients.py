#!/usr/bin/env python3
"""Normal-request latency while slow clients hold connections.

    .venv/bin/python bench/slow_clients.py                 # 32 slow clients, default layout (2 workers x 2 threads)
    .venv/bin/python bench/slow_clients.py --slow 64 --seconds 8

Starts run_server.py on 127.0.0.1 with a temporary database, measures
GET /me (with a session: cookie, hash, SQLite read) one request at a time,
then opens the slow clients and measures again while they are held:
a third send a request body a byte a second, a third declare a 1000-byte
body and send 10 bytes, a third never finish their headers. Prints
p50/p90/p99/max and how many requests got no answer within 5 s. The slow
clients are kept alive for less than --body-timeout/--header-timeout
(10 s), so the figures show the server holding them, not refusing them.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from conformance.server_process import ServerProcess, ServerStartError

ROOT = Path(__file__).resolve().parent.parent


def start_server(workdir: str, extra: list[str]) -> ServerProcess:
    """Start run_server.py on a free port; return it started (its URL in .url)."""
    server = ServerProcess(
        [sys.executable, str(ROOT / "run_server.py"), "--port", "0", "--db", f"{workdir}/s.db",
         "--scrypt-n", "1024", "--no-access-log", *extra],
        name="run_server.py", env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=f"{workdir}/stderr.log",
    )  # fmt: skip
    try:
        server.start()
    except ServerStartError as exc:
        raise SystemExit(str(exc)) from None
    return server


def open_slow_clients(host: str, port: int, count: int, stop: threading.Event) -> list[socket.socket]:
    socks = []
    for i in range(count):
        sock = socket.create_connection((host, port), timeout=5)
        kind = i % 3
        if kind == 2:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        else:
            declared, first = (200, b"{") if kind == 0 else (1000, b'{"email":"')
            sock.sendall(f"POST /login HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {declared}\r\n\r\n".encode() + first)
        if kind == 0:
            threading.Thread(target=drip, args=(sock, stop), daemon=True).start()
        socks.append(sock)
    return socks


def drip(sock: socket.socket, stop: threading.Event) -> None:
    while not stop.wait(1):
        try:
            sock.sendall(b" ")
        except OSError:
            return


def measure(session: requests.Session, url: str, seconds: float) -> tuple[list[float], int]:
    times, unanswered = [], 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            session.get(f"{url}/me", timeout=5).raise_for_status()
            times.append(time.perf_counter() - started)
        except requests.RequestException:
            unanswered += 1
    return times, unanswered


def describe(label: str, times: list[float], unanswered: int) -> str:
    if not times:
        return f"{label:34} no answers; {unanswered} unanswered within 5 s"
    ordered = sorted(times)
    pct = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return (f"{label:34} p50 {statistics.median(ordered) * 1000:6.1f} ms  p90 {pct(0.9):6.1f}  "
            f"p99 {pct(0.99):6.1f}  max {ordered[-1] * 1000:6.1f}  unanswered {unanswered}/{len(times) + unanswered}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slow", type=int, default=32, help="slow clients to hold (at least 16)")
    parser.add_argument("--seconds", type=float, default=6,
                        help="length of each measurement (keep it under the 10 s body and header timeouts)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        server = start_server(workdir, ["--workers", str(args.workers), "--threads", str(args.threads)])
        url = server.url
        stop = threading.Event()
        socks: list[socket.socket] = []
        try:
            session = requests.Session()
            creds = {"email": "bench@example.com", "password": "correct horse"}
            session.post(f"{url}/signup", json=creds, timeout=10)
            session.post(f"{url}/login", json=creds, timeout=10).raise_for_status()
            measure(session, url, 1)  # warm up both workers
            print(f"GET /me, one at a time for {args.seconds:.0f} s, {args.workers} workers x {args.threads} threads:")
            print(describe("no slow clients", *measure(session, url, args.seconds)))
            host, port = url.removeprefix("http://").rsplit(":", 1)
            socks = open_slow_clients(host, int(port), args.slow, stop)
            time.sleep(1)
            started = time.monotonic()
            times, unanswered = measure(session, url, args.seconds)
            print(describe(f"with {args.slow} slow clients held", times, unanswered))
            print(f"(measured over {time.monotonic() - started:.1f} s; slow clients opened {len(socks)})")
        finally:
            stop.set()
            for sock in socks:
                sock.close()
            server.stop()


if __name__ == "__main__":
    main()
