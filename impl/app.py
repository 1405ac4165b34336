"""The app factory: wiring, the one JSON error shape, request guards and the access log."""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import bottle

from . import devices, pages, routes
from . import openapi, readiness
from .accesslog import AccessLog
from .accounts import Accounts
from .config import Config
from .metrics import MeteredStore, Metrics
from .errors import STATUS_MESSAGES, ApiError, NotAuthenticated, Unavailable
from .passwords import PasswordHasher
from .services import Services
from .sessions import SessionManager
from .store import CallerGone, StoreError, open_store
from .throttle import Throttle
from .web import client_ip, declared_length, is_cross_site

log = logging.getLogger("impl")

# Methods that change nothing (RFC 9110 section 9.2.1). Every other method,
# in any letter case (Bottle upper-cases it for routing after the guard
# has looked), counts as state-changing and must pass the cross-site check.
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Safe methods as clients spell them: with no declared body, nothing to check.
_QUICK_METHODS = frozenset({"GET", "HEAD"})
# RFC 9110 section 9.1: a method is a token.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

# On every response: nothing with a session in it may be cached by a browser
# or proxy (HARD-NO-STORE), nothing may be sniffed into HTML, and no URL of
# ours leaks to another site through Referer.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# Bottle spells every header name it sends in title case (its _hkey).
_SECURITY_HEADERS = [(name.title(), (name, value)) for name, value in SECURITY_HEADERS.items()]


# Where a request's store fault is noted for the metrics.
_STORE_FAULT = "sessions.store_fault"

# One encoder, made once: json.dumps with any non-default argument builds a
# new JSONEncoder on every call.
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def json_body(payload: Any) -> str:
    return _encode(payload)


def error_response(status: int, message: str) -> bottle.HTTPResponse:
    """Return a complete JSON error response, for guards that run outside a route."""
    return bottle.HTTPResponse(json_body({"error": message}), status=status, Content_Type="application/json")


class JsonBottle(bottle.Bottle):
    """A Bottle whose every error, its own included, is a JSON {"error": ...}."""

    services: Services
    access_log: AccessLog | None = None
    metrics: Metrics | None = None

    def default_error_handler(self, res: bottle.HTTPError) -> str:
        if res.status_code >= 500:
            # Bottle already wrote the traceback to wsgi.errors; the client
            # learns only that it was our fault.
            log.error("%s %s failed with %s", bottle.request.method, bottle.request.path, res.status_line)
        message = STATUS_MESSAGES.get(res.status_code, res.status_line.partition(" ")[2] or "Error.")
        bottle.response.content_type = "application/json"
        return json_body({"error": message})

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Serve one request: add the headers every response carries, write the access-log line.

        Done here, on the header list itself, rather than through Bottle's
        response object: it covers every answer, errors and crashes included,
        and costs a fraction of Bottle's header machinery.
        """
        started = time.perf_counter()
        status = "-"

        def finish(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal status
            status = line[:3]
            present = {name for name, _ in headers}
            headers.extend(header for key, header in _SECURITY_HEADERS if key not in present)
            return start_response(line, headers, exc_info)

        try:
            return super().wsgi(environ, finish)
        finally:
            elapsed = time.perf_counter() - started
            if self.access_log is not None:
                self.access_log.write(environ, status, elapsed)
            if self.metrics is not None:
                route = environ.get("bottle.route")
                self.metrics.request(route.rule if route else "unmatched", environ.get("REQUEST_METHOD", ""),
                                     status, elapsed)
                fault = environ.get(_STORE_FAULT)
                if fault:
                    self.metrics.store_fault(fault)


def _error(exc: ApiError) -> str:
    # Set the status on the shared response rather than raising an
    # HTTPResponse, which would replace the headers set for this request.
    bottle.response.status = exc.status
    bottle.response.content_type = "application/json"
    for name, value in exc.headers.items():
        bottle.response.set_header(name, value)
    return json_body(exc.body())


def json_api(callback: Callable[..., Any]) -> Callable[..., Any]:
    """Bottle plugin: encode dict/list results as JSON and ApiErrors as JSON errors."""

    @functools.wraps(callback)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = callback(*args, **kwargs)
        except StoreError as exc:
            # The database, not the request, is at fault: say when to retry
            # (and never claim an action that did not commit).
            log.warning("%s %s: store unavailable: %s", bottle.request.method, bottle.request.path, exc)
            bottle.request.environ[_STORE_FAULT] = type(exc).__name__
            return _error(Unavailable(retry_after=exc.retry_after))
        except CallerGone as exc:
            # The requester's own session was ended while this request was on
            # its way (a concurrent revoke-all, logout or password change):
            # nothing was done, and the answer is the 401 it would get now.
            sessions = bottle.request.app.services.sessions
            return _error(NotAuthenticated(reason=sessions.why_ended(exc.token_hash)))
        except ApiError as exc:
            return _error(exc)
        if isinstance(result, (dict, list)):
            bottle.response.content_type = "application/json"
            return json_body(result)
        return result

    return wrapper


def _logged_client(config: Config) -> Callable[[dict[str, Any]], str]:
    """Return how the access log names a request's client: client_ip, remembered per peer and forwarded chain.

    Parsing an address costs as much as the rest of a log line; the same
    few peers (a proxy, a handful of clients) come back on every request.
    """

    @functools.lru_cache(maxsize=4096)
    def named(peer: str, forwarded: str) -> str:
        return client_ip({"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": forwarded}, config)

    if not config.trusted_proxies:
        return lambda environ: named(environ.get("REMOTE_ADDR") or "", "")
    return lambda environ: named(environ.get("REMOTE_ADDR") or "", environ.get("HTTP_X_FORWARDED_FOR", ""))


def create_app(
    config: Config | Mapping[str, Any] | None = None,
    *,
    clock: Callable[[], float] = time.time,
    metrics: Metrics | None = None,
) -> JsonBottle:
    """Build an independent app: its own store, settings and clock.

    `config` is a Config, a mapping of settings over the defaults, or None
    for the defaults. `clock` (seconds since the epoch) lets tests move time
    instead of sleeping through timeouts. With `metrics`, requests, sessions
    and store faults are counted (impl/metrics.py).
    """
    if config is None:
        config = Config()
    elif not isinstance(config, Config):
        config = Config.from_mapping(config)
    store = open_store(config.db)
    if metrics is not None:
        store = MeteredStore(store, metrics)
    hasher = PasswordHasher(config.scrypt_n, config.scrypt_r, config.scrypt_p)
    sessions = SessionManager(store, config, clock)
    services = Services(
        config=config,
        store=store,
        accounts=Accounts(store, hasher, sessions, Throttle(store, config, clock), clock),
        sessions=sessions,
    )
    devices.warm_up()

    app = JsonBottle()
    app.uninstall(bottle.JSONPlugin)  # json_api below encodes lists too
    app.services = services
    if config.access_log:
        app.access_log = AccessLog(client=_logged_client(config))
    app.metrics = metrics

    @app.hook("before_request")
    def guard_request() -> None:
        environ = bottle.request.environ
        method = environ.get("REQUEST_METHOD", "")
        if method in _QUICK_METHODS and "CONTENT_LENGTH" not in environ:
            return  # nearly every request: a valid, safe method, no body
        if not _TOKEN.fullmatch(method):
            raise error_response(400, "Request method is not a valid HTTP token.")
        # HARD-BAD-INPUT: refuse an oversized declared body before any route reads it.
        try:
            declared_length(environ, config.max_body_bytes)
        except ApiError as exc:
            raise error_response(exc.status, exc.message) from None
        # HARD-CSRF: every state-changing request from another site is refused
        # before it can change anything.
        if method.upper() not in _SAFE_METHODS and is_cross_site(environ, config):
            raise error_response(403, "Cross-site request refused.")

    app.install(json_api)
    routes.install(app, services)
    pages.install(app)
    openapi.install(app)
    readiness.install(app, services)
    return app

