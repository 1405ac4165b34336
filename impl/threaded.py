"""A threaded wsgiref server: `run_server.py --debug`'s server, and the one the tests serve apps with.

wsgiref serves one request at a time and queues five connections; the
ThreadingMixIn gives each request a thread, and the backlog is raised because
five overflows under load (connections refused). Requests are logged by the
app itself, so the handler's own log line is dropped; a client that hangs up
before its answer is complete is no error of the server's.
"""

from __future__ import annotations

import contextlib
import socketserver
import sys
import threading
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def make_threaded_server(host: str, port: int, app: Any) -> ThreadingWSGIServer:
    """Return a threaded wsgiref server for `app` bound to host:port (0: a free port)."""
    server = make_server(host, port, app, server_class=ThreadingWSGIServer, handler_class=QuietHandler)
    assert isinstance(server, ThreadingWSGIServer)
    return server


@contextlib.contextmanager
def serving_in_thread(app: Any, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve `app` on a free port of `host` in threads of this process until the block ends; yield its base URL."""
    server = make_threaded_server(host, 0, app)
    thread = threading.Thread(target=server.serve_forever, name=f"serve:{server.server_port}", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
