"""Prometheus metrics: what the workers count, and the exporter that serves them on a port of its own.

Off unless `--metrics-port` is given. granian runs several worker
processes, so the counts live in prometheus-client's multi-process mode:
each worker writes its own memory-mapped files in one folder
(PROMETHEUS_MULTIPROC_DIR, made by the supervisor for this run), and the
exporter (a side process, impl/sidecars.py) adds them up when scraped.
The exporter listens on its own port, not on the API's, so that the
metrics are never reachable where the API is published.

What is counted never holds anything of a user: labels are the route's
pattern (`/me/sessions/<id>`, never the id), the method, the status, an
end reason or a fault's kind; no email, address, token or session id.

Sessions ended are counted by the actions that end them (logout, revoke,
revoke-all, password change), with the contract's reason. Sessions that
expire (idle, absolute, or evicted past the per-user limit) end by
themselves, at no instant a request sees; the purge's deleted rows count
what the database no longer keeps.
"""

from __future__ import annotations

import os
from typing import Any

ENV_DIR = "PROMETHEUS_MULTIPROC_DIR"
# Standard methods only: anything else is one label value, so a client
# cannot grow the number of series.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# From half a millisecond (an authenticated GET) to the store timeout.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The server's counters, in this process, written where the exporter reads them."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        self.requests = Counter(
            "sessions_http_requests", "HTTP requests answered, by route pattern, method and status.",
            ["route", "method", "status"],
        )
        self.latency = Histogram(
            "sessions_http_request_duration_seconds", "Time to answer a request in the app, by route pattern.",
            ["route"], buckets=_BUCKETS,
        )
        self.created = Counter("sessions_created", "Sessions created by a login.")
        self.ended = Counter("sessions_ended", "Sessions ended by an action, by the reason their owner is told.",
                             ["reason"])
        self.purged = Counter("sessions_purged_rows", "Rows the purge deleted (dead sessions, old events, counters).")
        self.throttled = Counter("sessions_login_throttled", "Logins refused with 429 by the throttle (HARD-THROTTLE).")
        self.store_faults = Counter("sessions_store_faults", "Requests answered 503 because of the store, by kind.",
                                    ["kind"])

    def request(self, route: str, method: str, status: str, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(route, method if method in _METHODS else "other", status).inc()
        self.latency.labels(route).observe(seconds)
        if status == "429":
            self.throttled.inc()

    def store_fault(self, kind: str) -> None:
        self.store_faults.labels(kind).inc()


def from_env() -> Metrics | None:
    """Return the worker's Metrics when the supervisor turned them on (its folder is set), else None."""
    return Metrics() if os.environ.get(ENV_DIR) else None


class MeteredStore:
    """A store that counts the sessions its verbs create and end; every other verb is the store's own."""

    def __init__(self, store: Any, metrics: Metrics) -> None:
        # Bound once, so the verbs not counted (the hot path's find_session
        # among them) cost no extra call.
        for name in dir(store):
            if not name.startswith("_") and not hasattr(type(self), name):
                setattr(self, name, getattr(store, name))
        self._store = store
        self._metrics = metrics

    def add_session(self, *args: Any, **kwargs: Any) -> int | None:
        ended = self._store.add_session(*args, **kwargs)
        if ended is not None:  # None: refused (the password changed meanwhile)
            self._metrics.created.inc()
        if ended:  # a login that ended the others (EXT-RECOVER) retires them as revoked
            self._metrics.ended.labels("revoked").inc(ended)
        return ended

    def revoke_session(self, *args: Any, **kwargs: Any) -> Any:
        from .store import Outcome

        outcome = self._store.revoke_session(*args, **kwargs)
        if outcome is Outcome.DONE:
            self._metrics.ended.labels("revoked").inc()
        return outcome

    def logout(self, *args: Any, **kwargs: Any) -> Any:
        # Returns only once it ended the session (a caller already gone is an exception).
        result = self._store.logout(*args, **kwargs)
        self._metrics.ended.labels("logged_out").inc()
        return result

    def revoke_other_sessions(self, *args: Any, **kwargs: Any) -> int | None:
        ended = self._store.revoke_other_sessions(*args, **kwargs)
        if ended:
            self._metrics.ended.labels("revoked").inc(ended)
        return ended

    def change_password(self, *args: Any, **kwargs: Any) -> int | None:
        ended = self._store.change_password(*args, **kwargs)
        if ended:
            self._metrics.ended.labels("password_changed").inc(ended)
        return ended

    def purge(self, *args: Any, **kwargs: Any) -> int:
        deleted = self._store.purge(*args, **kwargs)
        self._metrics.purged.inc(deleted)
        return deleted


def serve_exporter(host: str, port: int) -> Any:
    """Serve every worker's metrics, added up, on host:port (in the exporter's process); return the server."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    server, _ = start_http_server(port, addr=host, registry=registry)
    return server
