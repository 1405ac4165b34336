"""Fixtures for the reference server's own tests: apps on temporary databases, a WSGI client, a clock."""

from __future__ import annotations

import contextlib
import io
import json as jsonlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes
from wsgiref.util import setup_testing_defaults

import pytest

from impl import Config, create_app
from impl.threaded import serving_in_thread

from . import postgres

# Cheap password hashing: these tests are about sessions, not scrypt's cost.
FAST = {"scrypt_n": 2, "access_log": False}

CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
FIREFOX_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)


class FakeClock:
    """A clock the test moves by hand, so timeouts need no sleeping."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def headers_named(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def json(self) -> Any:
        return jsonlib.loads(self.body)


@dataclass
class Client:
    """One simulated device talking to a WSGI app in-process, with its own session cookie."""

    app: Callable[..., Any]
    user_agent: str = CHROME_MAC
    remote_addr: str = "127.0.0.1"
    token: str | None = None
    log: list[Response] = field(default_factory=list)

    def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        if json is not None:
            body = jsonlib.dumps(json).encode()
        path, _, query = path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            # As a WSGI server does: percent-decoded, bytes as latin-1.
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query,
            "REMOTE_ADDR": self.remote_addr,
            "HTTP_HOST": "localhost:3000",
            "HTTP_USER_AGENT": self.user_agent,
            "wsgi.input": io.BytesIO(body or b""),
        }
        setup_testing_defaults(environ)
        if body:
            environ["CONTENT_LENGTH"] = str(len(body))
            environ["CONTENT_TYPE"] = "application/json"
        if self.token is not None:
            environ["HTTP_COOKIE"] = f"session={self.token}"
        for name, value in (headers or {}).items():
            key = name.upper().replace("-", "_")
            environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
        captured: dict[str, Any] = {}

        def start_response(status: str, response_headers: list, exc_info: Any = None) -> None:
            captured["status"] = int(status.split()[0])
            captured["headers"] = response_headers

        chunks = self.app(environ, start_response)
        try:
            data = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        response = Response(captured["status"], captured["headers"], data)
        for cookie in response.headers_named("Set-Cookie"):
            name, _, rest = cookie.partition("=")
            if name == "session":
                value = rest.split(";", 1)[0]
                self.token = value or None
        self.log.append(response)
        return response

    def signup(self, email: str, password: str = "correct horse") -> Response:
        return self.request("POST", "/signup", json={"email": email, "password": password})

    def login(self, email: str, password: str = "correct horse") -> Response:
        return self.request("POST", "/login", json={"email": email, "password": password})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path) -> str:
    return str(tmp_path / "sessions.db")


@pytest.fixture
def make_app(db_path, clock) -> Callable[..., Any]:
    """Build an app on this test's database and clock; keyword args override settings."""

    def build(**overrides: Any) -> Any:
        return create_app(Config(db=db_path, **{**FAST, **overrides}), clock=clock)

    return build


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def closing() -> Iterator[Callable[[Any], Any]]:
    """closing(app) -> app, whose store is closed when the test ends.

    An app left open keeps its PostgreSQL pool's threads until a garbage
    collection finds it, in whatever thread runs one: in one of that pool's own
    threads, the pool's __del__ cannot join itself, and the test that happens
    to be running fails on an unraisable exception.
    """
    apps: list[Any] = []

    def register(app: Any) -> Any:
        apps.append(app)
        return app

    yield register
    for app in apps:
        app.services.store.close()


@pytest.fixture
def client_for(app) -> Callable[..., Client]:
    def build(user_agent: str = CHROME_MAC, **kwargs: Any) -> Client:
        return Client(app, user_agent=user_agent, **kwargs)

    return build


@pytest.fixture
def user(client_for) -> str:
    """An email that has an account (password "correct horse")."""
    email = "ann@example.com"
    assert client_for().signup(email).status == 201
    return email


@pytest.fixture
def logged_in(client_for, user) -> Callable[..., Client]:
    """Return a new device logged in as `user`."""

    def build(user_agent: str = CHROME_MAC, **kwargs: Any) -> Client:
        device = client_for(user_agent, **kwargs)
        assert device.login(user).status == 200
        return device

    return build


@pytest.fixture
def serve() -> Iterator[Callable[[Any], str]]:
    """Serve a WSGI app over real HTTP on a free port in a thread; return its base URL."""
    with contextlib.ExitStack() as servers:
        yield lambda wsgi_app: servers.enter_context(serving_in_thread(wsgi_app))


def pytest_sessionfinish(session, exitstatus) -> None:
    # The throwaway PostgreSQL server, if any test started one (tests/postgres.py).
    postgres.stop()
