"""A throwaway PostgreSQL server for the tests and benchmarks, or the one SESSIONS_TEST_POSTGRES_URL names.

The server is pytest-postgresql's executor (pg_ctl under mirakuru) on
Debian's server binaries (/usr/lib/postgresql/<version>/bin), started once,
on first use, in a temporary folder on a free port, and stopped at the end
(`stop()`, called by tests/conftest.py when the session finishes). Each
caller of `new_database()` gets a database of its own.

initdb and postgres refuse to run as root, and CI runs as root: then pg_ctl
runs through a small wrapper as an unprivileged user (`postgres`, which
Debian's package creates, or `nobody`) that owns the temporary folder.
pytest-postgresql's own `postgresql_proc` factory cannot do that (its folders
are the root-only pytest tmp dirs), hence its executor is used directly.

Without the binaries (and without the variable) the PostgreSQL tests skip,
saying what to install; with CI=true they fail instead.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import stat
import tempfile
import threading
import time
import uuid

import pytest

ENV_URL = "SESSIONS_TEST_POSTGRES_URL"
INSTALL_HINT = (
    "the PostgreSQL tests need PostgreSQL's server binaries: install Debian's `postgresql` package"
    f" (apt-get install postgresql), or set {ENV_URL} to a server where the tests may create databases"
)


class Unavailable(Exception):
    """No PostgreSQL server can be had here."""


def pg_bin_dir() -> str | None:
    """Return the folder of the newest installed server binaries (Debian's layout, else PATH)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    if found:
        return os.path.dirname(found[-1])
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return os.path.dirname(on_path)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unprivileged_user() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise Unavailable("running as root, and neither a `postgres` nor a `nobody` user exists to run PostgreSQL")


class Server:
    """One PostgreSQL server: the executor that runs it (None for a given URL) and how to reach it."""

    def __init__(self, admin_url: str, executor=None, folder: str | None = None) -> None:
        self.admin_url = admin_url
        self.executor = executor
        self.folder = folder
        self.created: list[str] = []

    @property
    def own(self) -> bool:
        return self.executor is not None

    def url(self, dbname: str) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{dbname}"

    def socket_url(self, url: str) -> str:
        """The same database reached through the server's Unix socket (a server the tests started)."""
        assert self.folder is not None, "only a server the tests started has a known socket folder"
        info = psycopg_conninfo(url)
        return f"postgresql://{info['user']}@/{info['dbname']}?host={self.folder}&port={info['port']}"

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        name = f"sessions_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.url(name)

    def stop_server(self) -> None:
        """Stop the server (its data stays): what an outage looks like to the app."""
        assert self.executor is not None, "only a server the tests started can be stopped"
        self.executor.stop()

    def start_server(self) -> None:
        assert self.executor is not None
        self.executor.start()
        self.wait_ready()

    def wait_ready(self, timeout: float = 30) -> None:
        """Wait until the server accepts connections: the port opens before it is "starting up" no more."""
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.admin_url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def close(self) -> None:
        if self.executor is not None:
            try:
                self.executor.stop()
            except Exception:
                pass
            if self.folder:
                shutil.rmtree(self.folder, ignore_errors=True)
            return
        # Someone else's server: leave it as found.
        import psycopg

        try:
            with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
                for name in self.created:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.Error:
            pass


def psycopg_conninfo(url: str) -> dict:
    from psycopg.conninfo import conninfo_to_dict

    return conninfo_to_dict(url)


def start(options: str = "-c fsync=off -c max_connections=400") -> Server:
    """Start a throwaway server (raise Unavailable if there are no binaries); the caller closes it.

    fsync=off for tests only: the tests are about what the store does, not
    about the disk; benchmarks pass options="" and get PostgreSQL's defaults.
    """
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        raise Unavailable(INSTALL_HINT)
    from pytest_postgresql.executors import PostgreSQLExecutor

    folder = tempfile.mkdtemp(prefix="sessions-pg-")
    pg_ctl = os.path.join(bin_dir, "pg_ctl")
    if os.geteuid() == 0:
        user = _unprivileged_user()
        os.chmod(folder, 0o755)
        os.chown(folder, user.pw_uid, user.pw_gid)
        # pg_ctl (and the initdb and postgres it runs) as that user; from /,
        # since root's working folder may be closed to it.
        wrapper = os.path.join(folder, "pg_ctl")
        with open(wrapper, "w") as f:
            f.write(f'#!/bin/sh\ncd /\nexec setpriv --reuid={user.pw_uid} --regid={user.pw_gid} --clear-groups "{pg_ctl}" "$@"\n')
        os.chmod(wrapper, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        pg_ctl = wrapper
    port = _free_port()
    executor = PostgreSQLExecutor(
        executable=pg_ctl,
        host="127.0.0.1",
        port=port,
        datadir=os.path.join(folder, "data"),
        unixsocketdir=folder,
        logfile=os.path.join(folder, "postgresql.log"),
        startparams="-w",
        dbname="postgres",
        user="postgres",
        postgres_options=options,
        timeout=60,
    )
    try:
        executor.start()
    except Exception as exc:
        log = os.path.join(folder, "postgresql.log")
        tail = open(log).read()[-1500:] if os.path.exists(log) else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise Unavailable(f"could not start PostgreSQL from {bin_dir}: {exc}\n{tail}") from exc
    server = Server(f"postgresql://postgres@127.0.0.1:{port}/postgres", executor, folder)
    try:
        server.wait_ready()
    except Exception as exc:
        server.close()
        raise Unavailable(f"PostgreSQL from {bin_dir} did not become ready: {exc}") from exc
    return server


_lock = threading.Lock()
_shared: Server | None = None
_failure: str | None = None



def start_own(purpose: str) -> Server:
    """Start a server for one module alone (to stop, freeze or restart); skip the module when there can be none.

    Without binaries this skips, or fails in CI, as every PostgreSQL test
    does; with binaries that will not start, it skips saying why.
    """
    try:
        return start()
    except Unavailable as exc:
        if pg_bin_dir() is None and not os.environ.get(ENV_URL):
            shared_server()  # skips, or fails in CI, saying what to install
        pytest.skip(f"cannot start a PostgreSQL server of our own to {purpose}: {exc}")

def shared_server() -> Server:
    """Return the session's server, starting it on first use; skip (or fail in CI) when there is none."""
    global _shared, _failure
    with _lock:
        if _shared is None and _failure is None:
            given = os.environ.get(ENV_URL)
            try:
                _shared = Server(given) if given else start()
                atexit.register(stop)
            except Unavailable as exc:
                _failure = str(exc)
    if _shared is None:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"PostgreSQL is required in CI: {_failure}", pytrace=False)
        pytest.skip(_failure or INSTALL_HINT)
    return _shared


def postgres_database(tmp_path=None) -> str:
    """A fresh database on the session's server (a store backend for tests/store_backends.py)."""
    return shared_server().new_database()


def stop() -> None:
    """Stop the session's server, if one was started."""
    global _shared
    with _lock:
        server, _shared = _shared, None
    if server is not None:
        server.close()
