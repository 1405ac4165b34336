"""Running the server: command line, production server (granian), maintenance thread."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from .config import SETTINGS, Config, Setting, default_db_path
from .logs import logging_config
from .metrics import ENV_DIR as METRICS_DIR
from .sidecars import join_other_threads, start_exporter, start_maintenance, start_probe
# --db names a database server rather than a file: left to the store to open.
from .store.base import describe_database, is_store_url

log = logging.getLogger("impl.serve")

DEFAULTS = Config()
# Every number of seconds, and every count, reads the same in --help.
METAVARS = {"float": "SECONDS", "int": "N"}
# Seconds a worker has to finish its requests once told to stop.
STOP_GRACE_SECONDS = 3



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


def program_name() -> str:
    """How the person started the server, as usage lines and errors should name it."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if not name or name == "__main__.py":  # python -m impl
        return "python -m impl"
    return name


def shown_default(s: Setting, here: bool = True) -> str | None:
    """The default as --help says it: words where the value would mislead (and, `here`, the value), on/off."""
    if s.kind == "bool":
        return None if not s.negatable else ("on" if getattr(DEFAULTS, s.name) else "off")
    value = getattr(DEFAULTS, s.name)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if s.shown_default is None:
        return str(value)
    return f"{s.shown_default}, here {value}" if here and value not in ((), "") else s.shown_default


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """Return the command-line parser, derived from the settings' declarations (impl/config.py).

    A flag not given is absent from the result, so the environment and then
    the declared default decide it (config_from_args).
    """
    p = _Parser(
        prog=prog or program_name(),
        description="Reference server of the session-management API (docs/sessions-api.md). "
        "Every option can also be set with the environment variable shown in brackets.",
    )
    for s in SETTINGS:
        if s.flag is None:
            continue
        default = shown_default(s)
        words = [s.help + (f"; {s.wants}" if s.wants else "")]
        words += ([f"(default: {default})"] if default else []) + ([f"[{s.env}]"] if s.env else [])
        options: dict[str, Any] = {"dest": s.name, "default": argparse.SUPPRESS, "help": " ".join(words)}
        if s.kind == "bool":
            options["action"] = argparse.BooleanOptionalAction if s.negatable else "store_true"
        else:
            options["metavar"] = s.metavar or METAVARS.get(s.kind, s.name.upper())
            if s.parse is None and s.kind in ("int", "float"):
                options["type"] = int if s.kind == "int" else float
        p.add_argument(s.flag, **options)
    return p


def config_from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Config:
    """Return the Config the parsed arguments describe, over the environment, over the defaults."""
    return Config.from_env(environ, vars(args))


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
        app.access_log.json_lines = config.log_format == "json"
    return WsgiBridge(
        app,
        metrics=metrics,
        threads=config.threads,
        body_timeout=config.body_timeout,
        max_body_bytes=config.max_body_bytes,
        extra_headers=SECURITY_HEADERS.items(),
        # A local SQLite read may run on the event loop; a PostgreSQL round
        # trip never does (impl/bridge.py). /healthz touches no store.
        inline_reads=not is_store_url(config.db),
        inline_paths=("/healthz",),
        store_timeout=config.store_timeout,
        access_log=app.access_log,
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
    from .store.base import StoreUnavailable

    # The store is opened at the first run, not at start-up, and again after
    # a run that could not open it: a database that is down (or frozen) when
    # this process starts must not end it, or nothing would purge again
    # until the next restart.
    manager = None
    metrics = metrics_from_env()
    while not stop.wait(config.purge_interval):
        try:
            if manager is None:
                store = open_store(config.db)
                if metrics is not None:
                    store = MeteredStore(store, metrics)
                manager = SessionManager(store, config)
            purged = manager.purge_expired()
            manager.store.checkpoint()
            if purged:
                log.info("purged %d expired session(s)", purged)
        except StoreUnavailable as exc:
            # Expected while the database is away; the requests say so with
            # their 503s. One line, not a traceback.
            log.warning("maintenance skipped: %s; will retry in %g s", exc, config.purge_interval)
        except Exception:  # the loop must outlive a passing database error
            log.exception("maintenance failed; will retry")
    if manager is not None:
        manager.store.close()


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Parse the command line and serve until interrupted."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    if not is_store_url(config.db):
        problem = database_path_problem(config.db, is_default=config.db == default_db_path())
        if problem:
            parser.error(f"--db: cannot open database {config.db}: {problem}")
    host = config.host
    port = config.port or pick_free_port(host)
    problem = port_problem(host, port)
    if problem:
        print(f"cannot listen on {url_for(host, port)}: {problem}", file=sys.stderr)
        return 2

    import logging.config

    logging.config.dictConfig(logging_config(config.log_format))
    # Fail here, in one clear message, on an unusable database path, and
    # create the schema once before any worker races to.
    from .store import open_store

    try:
        open_store(config.db).close()
    except Exception as exc:
        print(f"cannot open database {describe_database(config.db)}: {exc}", file=sys.stderr)
        return 2

    # Workers are forked from this process but read their settings from
    # the environment, as the maintenance process (a fresh interpreter) does.
    os.environ.update(config.to_env())

    # Nothing may run beside this thread once granian starts forking
    # workers (impl/sidecars.py): the store opened above may have left a
    # connection pool's threads ending.
    running = join_other_threads(timeout=10)
    if running:
        print(f"cannot start: threads still running before the workers start: {', '.join(running)}",
              file=sys.stderr)
        return 2
    metrics_dir = None
    if config.metrics_port is not None:
        problem = port_problem(host, config.metrics_port)
        if problem:
            print(f"cannot listen on {url_for(host, config.metrics_port)} (--metrics-port): {problem}",
                  file=sys.stderr)
            return 2
        # Each worker's counts go to files here; the exporter adds them up.
        metrics_dir = tempfile.mkdtemp(prefix="sessions-metrics-")
        os.environ[METRICS_DIR] = metrics_dir
        start_exporter(host, config.metrics_port)
    if config.purge_interval:
        start_maintenance()
    lines = [f"listening on {url_for(host, port)}", f"data in {describe_database(config.db)}"]
    # A SIGTERM (from the probe, or a service manager) may come before
    # granian installs its own handlers: it then stops this process the
    # same orderly way, not by the signal's default death.
    signal.signal(signal.SIGTERM, _interrupt)
    also = (config.metrics_port,) if config.metrics_port is not None else ()
    probe = start_probe(host, port, lines, config.start_timeout, also=also)
    try:
        if config.debug_server:
            _serve_debug(host, port)
        else:
            _serve_granian(host, port, config)
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


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _serve_granian(host: str, port: int, config: Config) -> None:
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
        workers=config.workers,
        blocking_threads=1,
        # HTTP/1.1 only: granian's h2c let abandoned HTTP/2
        # streams spin the workers forever. Browsers reach us over HTTP/1.1,
        # or over HTTP/2 ended at the TLS proxy in front.
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(header_read_timeout=int(config.header_timeout * 1000)),
        websockets=False,
        # Requests are logged by the app itself (method, path, status, time).
        log_access=False,
        log_dictconfig=logging_config(config.log_format),
        # A crashed worker comes back instead of leaving a core idle.
        respawn_failed_workers=True,
        # A worker that has not stopped this long after SIGTERM is killed,
        # so that stopping the server always ends.
        workers_kill_timeout=STOP_GRACE_SECONDS,
    ).serve()


def _serve_debug(host: str, port: int) -> None:
    from impl.threaded import make_threaded_server

    make_threaded_server(host, port, app_from_env()).serve_forever()
