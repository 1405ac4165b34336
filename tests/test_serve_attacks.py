"""The production server under a handful of hostile connections: HTTP/2 streams, slow clients, refused bodies.

Each test starts run_server.py as a user does (two workers of two threads,
the default layout) and checks that ordinary requests are still answered.
Bounds are generous ("answered at all within N seconds"): latency is a
figure for bench/slow_clients.py, not an assertion.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import struct
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from .servers import running_server

# Two workers of two threads each: the layout the issue stalled with.
LAYOUT = ["--threads", "2"]


@pytest.fixture
def server(tmp_path) -> Iterator[str]:
    with running_server(tmp_path, LAYOUT, workers=2) as url:
        yield url


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def healthy(url: str, timeout: float = 5) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


# --- HTTP/2 cleartext -------------------------------------------------------

def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def _literal(name: str, value: str) -> bytes:
    # HPACK "literal header field without indexing, new name", no Huffman.
    return b"\x00" + bytes([len(name)]) + name.encode() + bytes([len(value)]) + value.encode()


def abandoned_h2_streams(host: str, port: int, streams: int = 4) -> None:
    """Open an h2c connection (prior knowledge), start POST streams with half their bodies, and leave."""
    with socket.create_connection((host, port), timeout=5) as sock, contextlib.suppress(OSError):
        # OSError: a server that refuses h2c may close the connection mid-attack.
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _frame(0x4, 0, 0, b""))
        for i in range(streams):
            stream = 2 * i + 1
            block = b"".join(
                _literal(name, value)
                for name, value in [(":method", "POST"), (":scheme", "http"), (":path", "/login"),
                                    (":authority", f"{host}:{port}"), ("content-type", "application/json"),
                                    ("content-length", "1000")]
            )
            sock.sendall(_frame(0x1, 0x4, stream, block) + _frame(0x0, 0, stream, b'{"email": "a'))
        time.sleep(0.3)


def test_abandoned_http2_streams_leave_the_server_answering_and_stoppable(tmp_path):
    with running_server(tmp_path, LAYOUT, workers=2) as url:
        host, port = address(url)
        for _ in range(2):
            abandoned_h2_streams(host, port)
        time.sleep(1)  # the wedge showed within a second
        assert all(healthy(url) for _ in range(10))
        # The server speaks HTTP/1.1 only: the preface is refused, not served.
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            answer = sock.recv(1024)
        assert not answer.startswith(b"\x00"), "an HTTP/2 frame came back: h2c is still served"
    # running_server's exit sent SIGTERM and waited; a wedged worker would
    # have been left behind, still holding the port.
    assert _port_is_free(host, port)


def _port_is_free(host: str, port: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
        except OSError:
            return True
        time.sleep(0.2)
    return False


# --- Slow clients -----------------------------------------------------------

class SlowClients:
    """Connections that send their request body a byte a second, or promise more body than they send."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.stop = threading.Event()
        self.sockets: list[socket.socket] = []
        self.threads: list[threading.Thread] = []

    def open_request(self, declared: int, first: bytes) -> socket.socket:
        """Send a POST /login head declaring `declared` body bytes, then `first`; keep the socket open."""
        sock = socket.create_connection((self.host, self.port), timeout=5)
        sock.sendall(
            f"POST /login HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {declared}\r\n\r\n".encode() + first
        )
        self.sockets.append(sock)
        return sock

    def dribble(self, count: int) -> None:
        """Start `count` clients sending one body byte a second."""
        for _ in range(count):
            sock = self.open_request(200, b"{")
            thread = threading.Thread(target=self._drip, args=(sock,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def short_bodies(self, count: int) -> None:
        """Start `count` clients declaring 1000 bytes and sending 10."""
        for _ in range(count):
            self.open_request(1000, b'{"email":"')

    def slow_headers(self, count: int) -> None:
        """Start `count` clients that never finish their headers."""
        for _ in range(count):
            sock = socket.create_connection((self.host, self.port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            self.sockets.append(sock)

    def _drip(self, sock: socket.socket) -> None:
        while not self.stop.wait(1):
            try:
                sock.sendall(b" ")
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


def test_normal_requests_are_answered_while_16_slow_clients_hold_connections(server):
    slow = SlowClients(*address(server))
    try:
        slow.dribble(8)
        slow.short_bodies(8)
        slow.slow_headers(4)
        time.sleep(1)  # let every slow request reach the server
        answered = 0
        with requests.Session() as session:
            for _ in range(20):
                r = session.get(f"{server}/healthz", timeout=5)
                answered += r.status_code == 200
        # A login needs a thread for its scrypt: it must get one.
        r = requests.post(f"{server}/signup", json={"email": "a@example.com", "password": "correct horse"},
                          timeout=5)
        assert r.status_code == 201, r.text
        assert answered == 20
    finally:
        slow.close()


def test_a_body_that_stops_arriving_gets_408_and_a_closed_connection(tmp_path):
    with running_server(tmp_path, [*LAYOUT, "--body-timeout", "1"], workers=2) as url:
        slow = SlowClients(*address(url))
        try:
            sock = slow.open_request(1000, b'{"email":"')
            started = time.monotonic()
            answer = b""
            while b"\r\n\r\n" not in answer and time.monotonic() - started < 10:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
            head = answer.split(b"\r\n\r\n")[0].lower()
            assert head.startswith(b"http/1.1 408"), answer
            assert b"connection: close" in head
            assert b"application/json" in head
        finally:
            slow.close()


# --- Refused bodies ---------------------------------------------------------

def test_a_413_before_the_body_is_sent_says_connection_close(server):
    # The client has sent part of a body it declared too large: the server
    # will not read the rest, so it must say it is closing the connection,
    # or the client's next request on it fails.
    # Several sizes, several times: whether the old server said it depended
    # on how much of the body had arrived when it answered.
    host, port = address(server)
    for sent in [0, 100, 1000, 30000] * 3:
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(b"POST /signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 70000\r\n\r\n" + b"x" * sent)
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        head = answer.split(b"\r\n\r\n")[0].lower()
        assert head.startswith(b"http/1.1 413"), answer
        assert b"\r\nconnection: close" in head, (sent, head)


def test_after_a_413_the_clients_next_request_on_the_connection_succeeds(server):
    host, port = address(server)
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("POST", "/signup", body=b"x" * (70 * 1024), headers={"Content-Type": "application/json"})
        first = conn.getresponse()
        first.read()
        assert first.status == 413
        assert (first.getheader("Connection") or "").lower() == "close"
        # http.client reconnects by itself when told the connection closes;
        # without the header it would reuse a socket the server has dropped.
        conn.request("GET", "/healthz")
        second = conn.getresponse()
        assert second.status == 200
        second.read()
    finally:
        conn.close()


def test_oversized_chunked_body_gets_a_json_413_and_a_closed_connection(server):
    host, port = address(server)

    def chunks() -> Iterator[bytes]:
        for _ in range(80):
            yield b"x" * 1024

    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("POST", "/signup", body=chunks(), headers={"Content-Type": "application/json"},
                     encode_chunked=True)
        r = conn.getresponse()
        body = r.read()
        assert r.status == 413
        assert body.startswith(b'{"error"')
        assert (r.getheader("Connection") or "").lower() == "close"
    finally:
        conn.close()



def test_a_body_cut_short_by_a_closed_connection_is_never_acted_on(server, tmp_path):
    # Valid JSON, but less than the declared length: the client left mid-body.
    host, port = address(server)
    body = b'{"email": "cut@example.com", "password": "correct horse"}'
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(b"POST /signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(body) + 10}\r\n\r\n".encode() + body)
        time.sleep(0.3)
    time.sleep(0.5)
    # Had the signup gone through, this one would be a 409.
    r = requests.post(f"{server}/signup", json={"email": "cut@example.com", "password": "correct horse"}, timeout=5)
    assert r.status_code == 201, r.text


def test_headers_that_never_finish_are_cut_off_after_the_header_timeout(tmp_path):
    with running_server(tmp_path, [*LAYOUT, "--header-timeout", "1"], workers=2) as url:
        host, port = address(url)
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            started = time.monotonic()
            try:
                while sock.recv(4096):  # whatever is answered, the connection must then close
                    pass
            except TimeoutError:
                pytest.fail("the connection was still open after 10 s")
            assert time.monotonic() - started < 10
