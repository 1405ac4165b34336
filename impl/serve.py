"""Running the server: command line, production server (granian), maintenance thread."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from .config import ENV_PREFIX, Config
from .store.base import is_store_url

log = logging.getLogger("impl.serve")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000

# Logs go to stderr so that stdout carries only the lines tools read:
# "listening on http://HOST:PORT" first, then where the data lives.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "access": {"format": "%(asctime)s %(message)s"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"},
        "access": {"class": "logging.StreamHandler", "formatter": "access", "stream": "ext://sys.stderr"},
    },
    "loggers": {
        "_granian": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        "granian.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        "impl": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}


def _env(name: str, default: Any) -> Any:
    return os.environ.get(ENV_PREFIX + name, default)


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser; every flag also reads a SESSIONS_* variable."""
    d = Config()
    p = argparse.ArgumentParser(
        prog="run_server.py",
        description="Reference server of the session-management API (docs/sessions-api.md). "
        "Every option can also be set with the environment variable shown.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--host", default=_env("HOST", DEFAULT_HOST), help="address to listen on [SESSIONS_HOST]")
    p.add_argument(
        "--port", type=int, default=_env("PORT", DEFAULT_PORT), help="port; 0 picks a free one [SESSIONS_PORT]"
    )
    p.add_argument("--db", default=_env("DB_PATH", d.db_path), help="where the data lives: an SQLite file path, or a postgresql:// URL for a PostgreSQL database that several instances share [SESSIONS_DB_PATH]")
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=_env("IDLE_TIMEOUT", d.idle_timeout),
        help="seconds a session may go unused before it ends [SESSIONS_IDLE_TIMEOUT]",
    )
    p.add_argument(
        "--absolute-timeout",
        type=float,
        default=_env("ABSOLUTE_TIMEOUT", d.absolute_timeout),
        help="seconds after login a session ends however busy; also the cookie's Max-Age "
        "[SESSIONS_ABSOLUTE_TIMEOUT]",
    )
    p.add_argument(
        "--touch-interval",
        type=float,
        default=_env("TOUCH_INTERVAL", d.touch_interval),
        help="seconds between two writes of a session's lastActiveAt; at most half the idle timeout "
        "(larger values are capped) [SESSIONS_TOUCH_INTERVAL]",
    )
    p.add_argument(
        "--trusted-proxy",
        default=_env("TRUSTED_PROXIES", ""),
        metavar="ADDR[,NET...]",
        help="proxies whose X-Forwarded-For/-Proto to believe, e.g. 127.0.0.1,10.0.0.0/8; "
        "empty: the socket's peer is the client [SESSIONS_TRUSTED_PROXIES]",
    )
    p.add_argument(
        "--https-cookies",
        action=argparse.BooleanOptionalAction,
        default=_env("HTTPS", "0").strip().lower() in ("1", "true", "yes", "on"),
        help="the public URL is https: cookies get Secure, the expected Origin is https:// [SESSIONS_HTTPS]",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=_env("WORKERS", os.cpu_count() or 1),
        help="worker processes (default: one per core) [SESSIONS_WORKERS]",
    )
    # Two threads per worker, measured (wrk -c16, GET /me, 2 cores): one
    # thread gave the best p99 alone (4 ms) but 67 ms while logins ran, as a
    # login's scrypt holds the worker's only thread for ~75 ms; four threads
    # fought over the GIL (p99 8-13 ms); two gave 6 ms alone, 9 ms with logins.
    p.add_argument(
        "--threads", type=int, default=_env("THREADS", 2), help="threads per worker process [SESSIONS_THREADS]"
    )
    p.add_argument(
        "--scrypt-n",
        type=int,
        default=_env("SCRYPT_N", d.scrypt_n),
        help="scrypt cost N (power of two) for new password hashes [SESSIONS_SCRYPT_N]",
    )
    p.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=_env("ACCESS_LOG", "1").strip().lower() in ("1", "true", "yes", "on"),
        help="one stderr line per request: method, path, status, duration [SESSIONS_ACCESS_LOG]",
    )
    p.add_argument(
        "--purge-interval",
        type=float,
        default=_env("PURGE_INTERVAL", d.purge_interval),
        help="seconds between deletions of expired sessions; 0 turns it off [SESSIONS_PURGE_INTERVAL]",
    )
    p.add_argument(
        "--debug-server",
        action="store_true",
        help="serve from this one process with the standard library's threaded server "
        "(for a debugger; slow, not for production)",
    )
    return p


def config_from_args(args: argparse.Namespace) -> Config:
    """Return the Config the parsed arguments describe."""
    return Config.from_mapping(
        {
            "db_path": args.db if is_store_url(args.db) else os.path.abspath(args.db),
            "idle_timeout": args.idle_timeout,
            "absolute_timeout": args.absolute_timeout,
            "touch_interval": args.touch_interval,
            "trusted_proxies": args.trusted_proxy,
            "https": args.https_cookies,
            "scrypt_n": args.scrypt_n,
            "access_log": args.access_log,
            "purge_interval": args.purge_interval,
        }
    )


def app_from_env() -> Any:
    """Build the app from SESSIONS_* variables: what each granian worker calls."""
    from .app import create_app

    return create_app(Config.from_env())


def pick_free_port(host: str) -> int:
    """Return a port that is free on `host` right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_problem(host: str, port: int) -> str | None:
    """Return why we cannot listen on host:port, or None.

    granian's workers bind with SO_REUSEPORT, so a second server on a busy
    port would start without complaint and share its connections with the
    first. A plain bind, as any other server would do, finds out first.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def url_for(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def announce_when_ready(host: str, port: int, db_path: str, timeout: float = 60) -> None:
    """Print the two stdout lines once the port accepts connections."""
    probe_host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((probe_host, port), timeout=1).close()
        except OSError:
            time.sleep(0.05)
            continue
        print(f"listening on {url_for(host, port)}", flush=True)
        print(f"data in {db_path}", flush=True)
        return
    log.error("server did not start listening on %s within %.0f s", url_for(host, port), timeout)


def maintain(config: Config, stop: threading.Event) -> None:
    """Every purge interval, delete expired sessions and truncate the WAL.

    Runs once, in the supervising process, not in every worker: one purge
    is enough, and the hot path never pays for it. The first run comes one
    interval after start-up, not during it: expired rows are never read
    anyway, and a start-up should not compete with a purge of a big table.
    """
    from .sessions import SessionManager
    from .store import open_store

    store = open_store(config.db_path)
    manager = SessionManager(store, config)
    while not stop.wait(config.purge_interval):
        try:
            purged = manager.purge_expired()
            store.checkpoint()
            if purged:
                log.info("purged %d expired session(s)", purged)
        except Exception:  # the thread must outlive a passing database error
            log.exception("maintenance failed; will retry")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and serve until interrupted."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    if args.workers < 1 or args.threads < 1:
        parser.error("--workers and --threads must be at least 1")
    port = args.port if args.port else pick_free_port(args.host)
    problem = port_problem(args.host, port)
    if problem:
        print(f"cannot listen on {url_for(args.host, port)}: {problem}", file=sys.stderr)
        return 2

    import logging.config

    logging.config.dictConfig(LOGGING)
    # Fail here, in one clear message, on an unusable database path, and
    # create the schema once before any worker races to.
    from .store import open_store

    try:
        open_store(config.db_path).close()
    except Exception as exc:
        print(f"cannot open database {config.db_path}: {exc}", file=sys.stderr)
        return 2

    # Workers are fresh interpreters: they read the settings from here.
    os.environ.update(config.to_env())

    stop = threading.Event()
    if config.purge_interval:
        threading.Thread(target=maintain, args=(config, stop), name="maintenance", daemon=True).start()
    threading.Thread(
        target=announce_when_ready, args=(args.host, port, config.db_path), name="announce", daemon=True
    ).start()
    try:
        if args.debug_server:
            _serve_debug(args.host, port, args.threads)
        else:
            _serve_granian(args.host, port, args.workers, args.threads)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
    return 0


def _serve_granian(host: str, port: int, workers: int, threads: int) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    Granian(
        "impl.serve:app_from_env",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        # Requests are logged by the app itself (method, path, status, time).
        log_access=False,
        log_dictconfig=LOGGING,
        # A crashed worker comes back instead of leaving a core idle.
        respawn_failed_workers=True,
    ).serve()


def _serve_debug(host: str, port: int, threads: int) -> None:
    import socketserver
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # the app logs requests itself
            pass

    class ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
        daemon_threads = True
        # wsgiref's backlog of 5 overflows under load (perf-notes): raise it.
        request_queue_size = 128

    server = make_server(host, port, app_from_env(), server_class=ThreadingServer, handler_class=QuietHandler)
    server.serve_forever()
