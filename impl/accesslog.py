"""The access log: one line per request (time, client address, method, path, status, duration), never a secret."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO
from urllib.parse import quote

from .logs import iso_time

# Re-quoting keeps a line a line: a decoded %0A in a path would otherwise
# forge a second one.
_SAFE = "/:@!$&'()*+,;=-._~"
# What needs no quoting at all (nearly every path and method): checked in
# one regex match rather than quoted character by character.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9/:@!$&'()*+,;=._~-]*")
_PLAIN_WORD = re.compile(r"[A-Za-z0-9._~-]*")
_PLAIN_ADDRESS = re.compile(r"[0-9A-Fa-f:.\[\]]*")
NAME = "impl.access"


def _peer(environ: dict[str, Any]) -> str:
    return environ.get("REMOTE_ADDR") or "-"


class AccessLog:
    """Write access-log lines straight to a stream, in the format of impl/logs.py.

    Not through the logging module: a LogRecord, its caller lookup, time
    formatting and the handler's lock cost ~37 us a line here, a third of an
    authenticated request (bench/profile_me.py); this costs a few. One write
    call per line, so lines from concurrent threads never interleave.
    `client` says who the client is (the socket's peer, or behind trusted
    proxies the address they forwarded).
    """

    def __init__(
        self, stream: TextIO | None = None, *, client: Callable[[dict[str, Any]], str] = _peer, json_lines: bool = False
    ) -> None:
        # None: whatever sys.stderr is when the line is written (so a test
        # harness that swaps stderr captures it).
        self.stream = stream
        self.client = client
        self.json_lines = json_lines
        self._second = -1
        self._stamp = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[str] = []
        self._lock = threading.Lock()

    def batch_on(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """From now on, gather lines and write them at the end of a turn of `loop`; None: write each at once."""
        self._loop = loop
        if loop is None:
            self.flush()

    def flush(self) -> None:
        """Write the gathered lines, in one call."""
        with self._lock:
            lines, self._pending = self._pending, []
        if lines:
            (self.stream or sys.stderr).write("".join(lines))

    def _emit(self, line: str) -> None:
        loop = self._loop
        if loop is None:
            (self.stream or sys.stderr).write(line)
            return
        with self._lock:
            self._pending.append(line)
            first = len(self._pending) == 1
        if not first:
            return  # a flush is already on its way
        try:
            if asyncio._get_running_loop() is loop:  # on the loop's own thread: no wake-up needed
                loop.call_soon(self.flush)
            else:
                loop.call_soon_threadsafe(self.flush)
        except RuntimeError:  # the loop is closed: the worker is stopping
            self.flush()

    def _timestamp(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            # One strftime per second, not per request; the logging module's
            # asctime, to the millisecond.
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
            self._second = second
        return f"{self._stamp},{int((now - second) * 1000):03d}"

    def write(self, environ: dict[str, Any], status: str, seconds: float) -> None:
        """Log one request: who, its method, its path (never the query string), status and duration."""
        # The query string is the client's to fill and could carry secrets.
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        if not _PLAIN_PATH.fullmatch(path):
            path = quote(path, safe=_SAFE)
        method = environ.get("REQUEST_METHOD", "-")
        if not _PLAIN_WORD.fullmatch(method):
            method = quote(method, safe="")
        client = self.client(environ)
        if not _PLAIN_ADDRESS.fullmatch(client):
            client = quote(client, safe=":.[]")
        now = time.time()
        if self.json_lines:
            self._emit(json.dumps({
                "time": iso_time(now), "level": "INFO", "logger": NAME, "client": client, "method": method,
                "path": path, "status": int(status) if status.isdigit() else None, "ms": round(seconds * 1000, 1),
            }) + "\n")
        else:
            self._emit(f"{self._timestamp(now)} INFO {NAME}: {client} {method} {path} {status} {seconds * 1000:.1f}ms\n")
