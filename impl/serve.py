"""Running the server: command line, production server (granian), maintenance thread."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from typing import Any

from .config import ENV_PREFIX, Config, default_db_path
from .logs import FORMATS as LOG_FORMATS, logging_config
from .metrics import ENV_DIR as METRICS_DIR
from .sidecars import join_other_threads, start_exporter, start_maintenance, start_probe
# --db names a database server rather than a file: left to the store to open.
from .store.base import describe_database
from .store.base import is_store_url as is_database_url

log = logging.getLogger("impl.serve")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000
# Seconds a worker has to finish its requests once told to stop.
STOP_GRACE_SECONDS = 3

def _env(name: str, default: Any) -> Any:
    return os.environ.get(ENV_PREFIX + name, default)


def port_number(text: str) -> int:
    """argparse type: a TCP port, 0 to 65535 (0 picks a free one)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0 to 65535)")
    return port


def database_path_problem(path: str, *, is_default: bool) -> str | None:
    """Return why `path` cannot be the SQLite file, or None.

    An explicit --db must be in a folder that exists: a typo such as
    /nonexistent/dir/x.db is refused, not created from the root. Only the
    per-user default folder is created (with mode 0700: it holds password
    hashes and session digests).
    """
    folder = os.path.dirname(path)
    if os.path.isdir(folder):
        return None
    if is_default:
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        except OSError as exc:
            return f"cannot create {folder}: {exc.strerror or exc}"
        return None
    if os.path.exists(folder):
        return f"{folder} is not a folder"
    return f"folder {folder} does not exist (create it first)"


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, naming the flag, without the usage block."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser; every flag also reads a SESSIONS_* variable."""
    d = Config()
    p = _Parser(
        prog="run_server.py",
        description="Reference server of the session-management API (docs/sessions-api.md). "
        "Every option can also be set with the environment variable shown.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--host", default=_env("HOST", DEFAULT_HOST), help="address to listen on [SESSIONS_HOST]")
    p.add_argument(
        "--port", type=port_number, default=_env("PORT", DEFAULT_PORT),
        help="port; 0 picks a free one [SESSIONS_PORT]",
    )
    p.add_argument(
        "--db",
        default=_env("DB_PATH", None),
        help="where the data lives: an SQLite file, whose folder must exist, or a postgresql:// URL "
        "of a database that several instances share. Default: an SQLite file in a per-user data folder, "
        f"$XDG_DATA_HOME or ~/.local/share (here {d.db_path}) [SESSIONS_DB_PATH]",
    )
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
    # Since impl/bridge.py, bodiless GETs run on the event loop and the
    # threads serve requests with a body and the other methods.
    p.add_argument(
        "--threads", type=int, default=_env("THREADS", 2),
        help="threads per worker process for requests with a body and for methods other than GET and HEAD, "
        "which run on the worker's event loop [SESSIONS_THREADS]",
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
        "--log-format",
        choices=LOG_FORMATS,
        default=_env("LOG_FORMAT", "text"),
        help="stderr lines as text (time, level, logger: message) or as one JSON object each "
        "[SESSIONS_LOG_FORMAT]",
    )
    p.add_argument(
        "--header-timeout",
        type=float,
        default=_env("HEADER_TIMEOUT", d.header_timeout),
        help="seconds a client has to send a request's headers; then the connection is closed "
        "[SESSIONS_HEADER_TIMEOUT]",
    )
    p.add_argument(
        "--body-timeout",
        type=float,
        default=_env("BODY_TIMEOUT", d.body_timeout),
        help="seconds a client has to send a request's body after its headers; then 408 and the "
        "connection is closed [SESSIONS_BODY_TIMEOUT]",
    )
    p.add_argument(
        "--purge-interval",
        type=float,
        default=_env("PURGE_INTERVAL", d.purge_interval),
        help="seconds between deletions of expired sessions; 0 turns it off [SESSIONS_PURGE_INTERVAL]",
    )
    p.add_argument(
        "--max-sessions-per-user",
        type=int,
        default=_env("MAX_SESSIONS_PER_USER", d.max_sessions_per_user),
        help="live sessions one user may hold; a login past it ends the least recently active "
        "[SESSIONS_MAX_SESSIONS_PER_USER]",
    )
    p.add_argument(
        "--throttle-limit",
        type=int,
        default=_env("THROTTLE_LIMIT", d.throttle_limit),
        help="failed logins allowed per account and client address before 429 (at most 10; 0 turns "
        "throttling off) [SESSIONS_THROTTLE_LIMIT]",
    )
    p.add_argument(
        "--throttle-lockout",
        type=float,
        default=_env("THROTTLE_LOCKOUT", d.throttle_lockout),
        help="seconds an account and address are refused after too many failures (at most 900) "
        "[SESSIONS_THROTTLE_LOCKOUT]",
    )
    p.add_argument(
        "--event-retention",
        type=float,
        default=_env("EVENT_RETENTION", d.event_retention),
        help="seconds the security log keeps an event (at least 90 days) [SESSIONS_EVENT_RETENTION]",
    )
    p.add_argument(
        "--store-timeout",
        type=float,
        default=_env("STORE_TIMEOUT", 10),
        help="seconds a request run in a worker's thread pool may take, its wait for the database "
        "included; then it gets 503 with Retry-After [SESSIONS_STORE_TIMEOUT]",
    )
    p.add_argument(
        "--metrics-port",
        type=port_number,
        default=_env("METRICS_PORT", None),
        help="serve Prometheus metrics at http://HOST:PORT/metrics, a port of their own (default: no "
        "metrics) [SESSIONS_METRICS_PORT]",
    )
    p.add_argument(
        "--start-timeout",
        type=float,
        default=_env("START_TIMEOUT", 60),
        help="seconds the workers have to answer their first request; then the server stops with exit "
        "status 1 rather than stay up without serving [SESSIONS_START_TIMEOUT]",
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
    db = args.db or default_db_path()
    return Config.from_mapping(
        {
            "db_path": db if is_database_url(db) else os.path.abspath(db),
            "idle_timeout": args.idle_timeout,
            "absolute_timeout": args.absolute_timeout,
            "touch_interval": args.touch_interval,
            "trusted_proxies": args.trusted_proxy,
            "https": args.https_cookies,
            "scrypt_n": args.scrypt_n,
            "access_log": args.access_log,
            "purge_interval": args.purge_interval,
            "max_sessions_per_user": args.max_sessions_per_user,
            "throttle_limit": args.throttle_limit,
            "throttle_lockout": args.throttle_lockout,
            "event_retention": args.event_retention,
            "header_timeout": args.header_timeout,
            "body_timeout": args.body_timeout,
        }
    )


def app_from_env() -> Any:
    """Build the WSGI app from SESSIONS_* variables (the debug server's app)."""
    from .app import create_app

    return create_app(Config.from_env())


def rsgi_app_from_env() -> Any:
    """Build what each granian worker serves: the WSGI app behind the body-reading bridge."""
    from .app import SECURITY_HEADERS, create_app
    from .bridge import WsgiBridge

    from .metrics import from_env as metrics_from_env

    config = Config.from_env()
    metrics = metrics_from_env()
    app = create_app(config, metrics=metrics)
    if app.access_log is not None:
        app.access_log.json_lines = os.environ.get(ENV_PREFIX + "LOG_FORMAT") == "json"
    return WsgiBridge(
        app,
        metrics=metrics,
        threads=int(os.environ.get(ENV_PREFIX + "THREADS", "2")),
        body_timeout=config.body_timeout,
        max_body_bytes=config.max_body_bytes,
        extra_headers=SECURITY_HEADERS.items(),
        # A local SQLite read may run on the event loop; a PostgreSQL round
        # trip never does (impl/bridge.py). /healthz touches no store.
        inline_reads=not is_database_url(config.db_path),
        inline_paths=("/healthz",),
        store_timeout=float(os.environ.get(ENV_PREFIX + "STORE_TIMEOUT", "10")),
    )


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


def maintain(config: Config, stop: threading.Event) -> None:
    """Every purge interval, delete expired sessions and truncate the WAL.

    Runs once, in a process of its own beside the workers (impl/sidecars.py
    says why not a thread of the supervisor): one purge is enough, and the
    hot path never pays for it. `stop` is anything with `wait(seconds)`
    that answers True once it is time to end. The first run comes one
    interval after start-up, not during it: expired rows are never read
    anyway, and a start-up should not compete with a purge of a big table.
    """
    from .metrics import MeteredStore, from_env as metrics_from_env
    from .sessions import SessionManager
    from .store import open_store

    store = open_store(config.db_path)
    metrics = metrics_from_env()
    if metrics is not None:
        store = MeteredStore(store, metrics)
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
    if not is_database_url(config.db_path):
        problem = database_path_problem(config.db_path, is_default=not args.db)
        if problem:
            parser.error(f"--db: cannot open database {config.db_path}: {problem}")
    if args.workers < 1 or args.threads < 1:
        parser.error("--workers and --threads must be at least 1")
    if not args.start_timeout > 0:
        parser.error("--start-timeout must be positive")
    if not args.store_timeout > 0:
        parser.error("--store-timeout must be positive")
    port = args.port if args.port else pick_free_port(args.host)
    problem = port_problem(args.host, port)
    if problem:
        print(f"cannot listen on {url_for(args.host, port)}: {problem}", file=sys.stderr)
        return 2

    import logging.config

    logging.config.dictConfig(logging_config(args.log_format))
    # Fail here, in one clear message, on an unusable database path, and
    # create the schema once before any worker races to.
    from .store import open_store

    try:
        open_store(config.db_path).close()
    except Exception as exc:
        print(f"cannot open database {describe_database(config.db_path)}: {exc}", file=sys.stderr)
        return 2

    # Workers are forked from this process but read their settings from
    # the environment, as the maintenance process (a fresh interpreter) does.
    os.environ.update(config.to_env())
    os.environ[ENV_PREFIX + "THREADS"] = str(args.threads)
    os.environ[ENV_PREFIX + "STORE_TIMEOUT"] = str(args.store_timeout)
    os.environ[ENV_PREFIX + "LOG_FORMAT"] = args.log_format

    # Nothing may run beside this thread once granian starts forking
    # workers (impl/sidecars.py): the store opened above may have left a
    # connection pool's threads ending.
    running = join_other_threads(timeout=10)
    if running:
        print(f"cannot start: threads still running before the workers start: {', '.join(running)}",
              file=sys.stderr)
        return 2
    metrics_dir = None
    if args.metrics_port is not None:
        problem = port_problem(args.host, args.metrics_port)
        if problem:
            print(f"cannot listen on {url_for(args.host, args.metrics_port)} (--metrics-port): {problem}",
                  file=sys.stderr)
            return 2
        # Each worker's counts go to files here; the exporter adds them up.
        metrics_dir = tempfile.mkdtemp(prefix="sessions-metrics-")
        os.environ[METRICS_DIR] = metrics_dir
        start_exporter(args.host, args.metrics_port)
    if config.purge_interval:
        start_maintenance()
    lines = [f"listening on {url_for(args.host, port)}", f"data in {describe_database(config.db_path)}"]
    probe = start_probe(args.host, port, lines, args.start_timeout)
    try:
        if args.debug_server:
            _serve_debug(args.host, port, args.threads)
        else:
            _serve_granian(args.host, port, args.workers, config)
    except KeyboardInterrupt:
        pass
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    try:
        gave_up = probe.wait(timeout=1) == 1
    except subprocess.TimeoutExpired:
        gave_up = False
    # The probe gave up and stopped the server: say so with the exit code.
    return 1 if gave_up else 0


def _serve_granian(host: str, port: int, workers: int, config: Config) -> None:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings

    Granian(
        "impl.serve:rsgi_app_from_env",
        factory=True,
        address=host,
        port=port,
        # RSGI, not WSGI: impl/bridge.py reads each body on the event loop,
        # under a deadline, so a slow client holds no thread. Its own pool
        # runs the app; granian's Python thread is only the event loop.
        interface=Interfaces.RSGI,
        workers=workers,
        blocking_threads=1,
        # HTTP/1.1 only (issue 8): granian's h2c let abandoned HTTP/2
        # streams spin the workers forever. Browsers reach us over HTTP/1.1,
        # or over HTTP/2 ended at the TLS proxy in front.
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(header_read_timeout=int(config.header_timeout * 1000)),
        websockets=False,
        # Requests are logged by the app itself (method, path, status, time).
        log_access=False,
        log_dictconfig=logging_config(os.environ.get(ENV_PREFIX + "LOG_FORMAT", "text")),
        # A crashed worker comes back instead of leaving a core idle.
        respawn_failed_workers=True,
        # A worker that has not stopped this long after SIGTERM is killed,
        # so that stopping the server always ends (issue 8).
        workers_kill_timeout=STOP_GRACE_SECONDS,
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
