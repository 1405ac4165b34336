"""The supervisor's side processes: the start-up probe and the maintenance loop, each in a fresh interpreter.

Why processes, not threads: granian forks its workers from the supervising
process (multiprocessing's default "fork" start method on Linux before
Python 3.14), at start-up and again whenever it respawns a crashed worker
or reloads on SIGHUP. A fork copies every lock as it stands at that
instant, but only the forking thread: a lock that another thread held then
(SQLite's own mutexes while it opens a file, a stream's buffer lock while it
prints, libpq's while it connects) stays locked forever in the child. One
start in about 130 hung that way, its worker blocked in
`pysqlite_connection_init` while the maintenance thread opened the database.
So the supervisor keeps one thread of its own, and what used to run beside
it runs in processes started by fork-and-exec (multiprocessing's "spawn"),
which copy no lock. Each side process ends when the supervisor does.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

# How often the probe asks while no worker answers yet.
PROBE_INTERVAL = 0.05


def _spawn(target: Any, args: tuple[Any, ...], name: str) -> multiprocessing.process.BaseProcess:
    process = multiprocessing.get_context("spawn").Process(target=target, args=args, name=name, daemon=True)
    process.start()
    return process


class _ParentGone:
    """A stop signal for the maintenance loop: set once the supervising process has ended."""

    def __init__(self) -> None:
        parent = multiprocessing.parent_process()
        self._sentinel = parent.sentinel if parent is not None else None

    def wait(self, timeout: float) -> bool:
        if self._sentinel is None:
            time.sleep(timeout)
            return False
        return bool(multiprocessing.connection.wait([self._sentinel], timeout))

    def is_set(self) -> bool:
        return self.wait(0)


def start_maintenance() -> multiprocessing.process.BaseProcess:
    """Start the maintenance loop in its own process; it reads the settings from SESSIONS_* variables."""
    return _spawn(_maintenance_main, (), "sessions-maintenance")


def _maintenance_main() -> None:
    # A Ctrl-C reaches the whole process group: the supervisor's ending is
    # what stops this loop, without a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import logging.config

    from .config import Config
    from .logs import logging_config
    from .serve import maintain

    config = Config.from_env()
    logging.config.dictConfig(logging_config(config.log_format))
    maintain(config, _ParentGone())


def start_exporter(host: str, port: int) -> multiprocessing.process.BaseProcess:
    """Serve the workers' metrics on host:port from a process of its own (impl/metrics.py)."""
    return _spawn(_exporter_main, (host, port), "sessions-metrics")


def _exporter_main(host: str, port: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from .metrics import serve_exporter

    server = serve_exporter(host, port)
    parent = _ParentGone()
    while not parent.wait(3600):
        pass
    server.shutdown()


def start_probe(
    host: str, port: int, lines: list[str], deadline: float, also: tuple[int, ...] = ()
) -> subprocess.Popen[bytes]:
    """Print `lines` on stdout once a worker answers GET /healthz; `deadline` seconds from now, stop the server.

    Ports in `also` (the metrics exporter's) must answer too before the
    lines are printed: whoever reads "listening on" may use them at once.

    Its exit code says which: 0 (serving), 1 (gave up, and sent SIGTERM to
    the supervisor, after one line on stderr). It runs this file as a
    script, in isolated mode, on the standard library alone: whatever
    breaks in the server's own modules, the deadline holds.
    """
    # CLOCK_MONOTONIC is one clock for every process of the machine: the
    # deadline counts from now, not from when the probe's interpreter is up.
    ends = time.monotonic() + deadline
    return subprocess.Popen(
        [sys.executable, "-I", os.path.abspath(__file__), "probe", host, ",".join(map(str, (port, *also))),
         f"{deadline:g}", repr(ends),
         str(os.getpid()), *lines]
    )


def _probe_main(host: str, ports: list[int], deadline: str, ends: float, supervisor: int, lines: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    probe_host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    while time.monotonic() < ends:
        if os.getppid() != supervisor:
            sys.exit(0)  # the supervisor is gone: nobody to announce
        if all(_answers(probe_host, port, max(0.1, min(2.0, ends - time.monotonic()))) for port in ports):
            for line in lines:
                print(line, flush=True)
            sys.exit(0)
        time.sleep(PROBE_INTERVAL)
    port = ports[0]
    where = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    print(f"run_server.py: no worker answered on {where} within {deadline} s (--start-timeout); stopping",
          file=sys.stderr, flush=True)
    os.kill(supervisor, signal.SIGTERM)
    sys.exit(1)


def _answers(host: str, port: int, timeout: float) -> bool:
    """Tell whether GET /healthz on host:port gets an HTTP answer (any status: a worker runs the app)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect((host, port))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
            return s.recv(16).startswith(b"HTTP/1.")
    except OSError:
        return False


def join_other_threads(timeout: float) -> list[str]:
    """Wait up to `timeout` s for every thread but this one to end; return the names of those still running.

    Called just before granian forks: a library that started threads (a
    connection pool while the schema was checked) must have finished them.
    """
    ends = time.monotonic() + timeout
    for thread in threading.enumerate():
        if thread is not threading.current_thread():
            thread.join(max(0.0, ends - time.monotonic()))
    return [t.name for t in threading.enumerate() if t is not threading.current_thread()]


if __name__ == "__main__" and sys.argv[1:2] == ["probe"]:
    _, _, _host, _port, _deadline, _ends, _supervisor, *_lines = sys.argv
    _probe_main(_host, [int(p) for p in _port.split(",")], _deadline, float(_ends), int(_supervisor), _lines)
