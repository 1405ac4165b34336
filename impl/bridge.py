"""Serving the WSGI app from granian's RSGI interface: each body is read in full, under a deadline, before a thread runs the app.

Why not granian's own WSGI interface: there the app is called as soon as
the headers are in, and `wsgi.input.read()` then blocks one of the worker's
few Python threads until the body arrives, with no timeout at all. Three
clients sending a body a byte a second, or declaring more body than they
send, held every thread of the default server. granian has a
timeout for headers (`header_read_timeout`) but none for bodies, and
more threads only raise the number of slow clients it takes.

Here the body is awaited on the worker's event loop, where a slow client
costs a coroutine, not a thread, and only a complete request is handed to
the thread pool that runs the (synchronous) Bottle app. A GET or HEAD with
no body is complete when its headers are: on SQLite (`inline_reads`) it runs
on the loop itself, with no hand-off to a thread, which on this 2-core
machine served 45% more GET /me a second (14,600 -> 21,500, wrk -c16).
Nothing a client sends can make it wait: its only waits are a read of a
local file, or the once-a-minute touch of a session's last activity, which
is best effort and bounded by the busy timeout. On PostgreSQL a read is a
round trip to another server, which may stall (a failover, a frozen
host): there every request that may touch the store runs in the pool, so
that a stalled database never stalls the loop, and with it every
connection of the worker (health checks and slow-body deadlines
included). Only the paths in `inline_paths`, which never touch the store
(/healthz), run on the loop on every backend.

A request run in the pool has `store_timeout` seconds, from the moment its
body is complete, to be answered: past that the client gets 503 with
Retry-After, as for any other store fault, while the pool thread finishes
whatever the database lets it finish (its late outcome is logged, not
sent). A queued request whose time ran out is never started. A body not complete
within `body_timeout` seconds of the headers gets 408; a body over the
size limit is not read past the limit and gets the app's own 413. Both
answers carry `Connection: close`, since the rest of the body is still on
the wire and the connection cannot carry another request.

The WSGI environ is built as granian's WSGI interface builds it (PEP 3333
plus `wsgi.input_terminated`): PATH_INFO percent-decoded as latin-1 text,
repeated headers joined with "," (Cookie with ";") in the order they came.
Header names with an underscore are dropped (see `_environ_key`).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

log = logging.getLogger("impl.bridge")
# As the access log quotes a path: a decoded %0A must not forge a log line.
_SAFE_PATH = "/:@!$&'()*+,;=-._~"
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_BASE_ENVIRON = {
    "GATEWAY_INTERFACE": "CGI/1.1",
    "SCRIPT_NAME": "",
    "SERVER_SOFTWARE": "granian (RSGI) + impl.bridge",
    "wsgi.errors": sys.stderr,
    "wsgi.input_terminated": True,
    "wsgi.multiprocess": True,
    "wsgi.multithread": True,
    "wsgi.run_once": False,
    "wsgi.version": (1, 0),
}


# Bodiless requests of these methods run on the event loop, not in the pool.
_INLINE_METHODS = frozenset({"GET", "HEAD"})


class ClientGone(Exception):
    """The body ended before its declared length: the client closed the connection."""


class BodyTooLarge(Exception):
    """The body went past the limit; what was read so far is attached."""

    def __init__(self, head: bytes) -> None:
        super().__init__("body too large")
        self.head = head


class WsgiBridge:
    """An RSGI application that runs a WSGI app in a thread pool once the request is complete."""

    def __init__(
        self,
        app: WsgiApp,
        *,
        threads: int,
        body_timeout: float,
        max_body_bytes: int,
        extra_headers: Iterable[tuple[str, str]] = (),
        inline_reads: bool = True,
        inline_paths: Iterable[str] = (),
        store_timeout: float = 10.0,
        metrics: Any = None,
        access_log: Any = None,
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.metrics = metrics
        self.inline_methods = _INLINE_METHODS if inline_reads else frozenset()
        self.inline_paths = frozenset(inline_paths)
        self.store_timeout = store_timeout
        self.body_timeout = body_timeout
        self.max_body_bytes = max_body_bytes
        # Headers for the answers written here rather than by the app (408).
        self.extra_headers = list(extra_headers)
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wsgi")

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.access_log is not None:
            # One write per turn of the loop, not per request (impl/accesslog.py).
            self.access_log.batch_on(loop)

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Requests still running finish on their own; queued ones are dropped.
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self.access_log is not None:
            # The loop may not turn again: what is gathered, and any line
            # a request still running writes, goes out at once.
            self.access_log.batch_on(None)

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        """Serve one request: read the body, run the app in a thread, send its answer."""
        if scope.proto != "http":  # websockets are turned off in serve.py; refuse anything else
            proto.close(1003)
            return
        headers = scope.headers
        declared = _declared_length(headers.get("content-length"))
        has_body = bool(declared) or "chunked" in (headers.get("transfer-encoding") or "").lower()
        body, complete = b"", True
        if declared is not None and declared > self.max_body_bytes:
            # Not a byte is read: the app refuses it from the header alone.
            complete = False
        elif has_body:
            try:
                body = await asyncio.wait_for(self._read(proto, declared), self.body_timeout)
            except TimeoutError:
                self._refuse(proto, 408, "Request body was not received in time.")
                return
            except ClientGone:
                # Nobody to answer, and a truncated body must not be acted on.
                return
            except BodyTooLarge as exc:
                body, complete = exc.head, False
        environ = self._environ(scope, body)
        if not has_body and (scope.method in self.inline_methods or scope.path in self.inline_paths):
            # Complete already, and quick: see the module's docstring.
            status, response_headers, payload = self._call(environ)
        else:
            loop = asyncio.get_running_loop()
            try:
                status, response_headers, payload = await asyncio.wait_for(
                    loop.run_in_executor(self.pool, self._call, environ), self.store_timeout
                )
            except TimeoutError:
                log.warning("%s %s: no answer within %g s; answered 503", scope.method,
                            quote(scope.path, safe=_SAFE_PATH), self.store_timeout)
                self._refuse(proto, 503, "The service is temporarily unavailable. Try again shortly.",
                             close=False, retry_after=5)
                if self.metrics is not None:
                    self.metrics.store_fault("StoreTimeout")
                return
        if not complete:
            response_headers.append(("Connection", "close"))
        proto.response_bytes(status, response_headers, payload)

    async def _read(self, proto: Any, declared: int | None) -> bytes:
        """Return the whole body; raise BodyTooLarge past the limit, ClientGone if it ends short."""
        parts, size = [], 0
        async for chunk in proto:
            parts.append(chunk)
            size += len(chunk)
            if size > self.max_body_bytes:
                raise BodyTooLarge(b"".join(parts))
        if declared is not None and size < declared:
            raise ClientGone()
        return b"".join(parts)

    def _call(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        """Run the WSGI app (in a pool thread) and return its status, headers and body."""
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            answer["status"], answer["headers"] = int(status[:3]), list(headers)
            return _no_write

        result = self.app(environ, start_response)
        try:
            payload = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return answer["status"], answer["headers"], payload

    def _refuse(self, proto: Any, status: int, message: str, *, close: bool = True, retry_after: int = 0) -> None:
        body = json.dumps({"error": message}, separators=(",", ":")).encode()
        headers = [("Content-Type", "application/json"), *self.extra_headers]
        if retry_after:
            headers.append(("Retry-After", str(retry_after)))
        if close:
            headers.append(("Connection", "close"))
        proto.response_bytes(status, headers, body)

    @staticmethod
    def _environ(scope: Any, body: bytes) -> dict[str, Any]:
        server = _SERVERS.get(scope.server)
        if server is None:  # one listening address per worker: split once
            server = _SERVERS[scope.server] = _split_address(scope.server)
        path = scope.path
        environ = {
            **_BASE_ENVIRON,
            "SERVER_PROTOCOL": "HTTP/1.1" if scope.http_version == "1.1" else f"HTTP/{scope.http_version}",
            "SERVER_NAME": server[0],
            "SERVER_PORT": server[1],
            "REMOTE_ADDR": _split_address(scope.client)[0],
            "REQUEST_METHOD": scope.method,
            # RSGI gives the path percent-decoded as UTF-8; WSGI wants the
            # decoded bytes as latin-1 text (PEP 3333 "native strings"), which
            # for an ASCII path is the path itself.
            "PATH_INFO": path if path.isascii() else path.encode("utf-8", "surrogateescape").decode("latin-1"),
            "QUERY_STRING": scope.query_string,
            "wsgi.url_scheme": scope.scheme,
            "wsgi.input": io.BytesIO(body),
        }
        for name, value in scope.headers.items():
            key = _ENVIRON_KEYS.get(name)
            if key is None:
                key = _environ_key(name)
                if len(_ENVIRON_KEYS) < 512:
                    _ENVIRON_KEYS[name] = key
            if not key:
                continue
            if key not in environ:
                environ[key] = value
            elif key.startswith("HTTP_"):  # CONTENT_TYPE and CONTENT_LENGTH keep their first value
                environ[key] += (";" if key == "HTTP_COOKIE" else ",") + value
        if "HTTP_HOST" not in environ:
            environ["HTTP_HOST"] = scope.authority or ""
        return environ


# The worker's listening address(es), split.
_SERVERS: dict[str, tuple[str, str]] = {}

# Header name -> environ key, computed once per name a worker sees (bounded:
# a client inventing names gets them computed, not remembered).
_ENVIRON_KEYS: dict[str, str] = {}


def _environ_key(name: str) -> str:
    """The environ key of a header; "" for a name with an underscore, which is dropped.

    X_Forwarded_For and X-Forwarded-For would both become
    HTTP_X_FORWARDED_FOR: a client could slip its own value in beside the
    proxy's. nginx and Apache drop such names too.
    """
    if "_" in name:
        return ""
    if name == "content-type":
        return "CONTENT_TYPE"
    if name == "content-length":
        return "CONTENT_LENGTH"
    return "HTTP_" + name.upper().replace("-", "_")


def _no_write(data: bytes) -> None:
    raise NotImplementedError("the app must return its body, not write() it")


def _declared_length(text: str | None) -> int | None:
    # granian has already refused a Content-Length that is not a number.
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _split_address(text: str) -> tuple[str, str]:
    """Split "1.2.3.4:80" or "[::1]:80" (or "::1:80") into host and port."""
    host, _, port = text.rpartition(":")
    return host.strip("[]"), port
