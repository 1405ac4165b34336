"""run_server.py as a user starts it: its output, its options, and correctness across worker processes."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from impl.config import Config
from impl.serve import maintain
from impl.sessions import Client, SessionManager
from impl.store import describe_database, open_store

from conformance.server_process import ServerProcess

from .servers import ROOT, running_server, started_server


@pytest.fixture
def server(tmp_path) -> Iterator[str]:
    with running_server(tmp_path, ["--threads", "4"], workers=2) as url:
        yield url


def login(url: str, email: str, user_agent: str = "curl/8") -> str:
    r = requests.post(f"{url}/login", json={"email": email, "password": "correct horse"},
                      headers={"User-Agent": user_agent}, timeout=10)
    assert r.status_code == 200, r.text
    return r.cookies["session"]


def test_first_line_is_the_url_and_second_is_where_data_lives(tmp_path):
    with started_server(tmp_path) as (url, second):
        assert requests.get(f"{url}/healthz", timeout=5).json() == {"status": "ok"}
        assert second == f"data in {tmp_path / 's.db'}"


def test_debug_server_mode_serves_the_same_app(tmp_path):
    with running_server(tmp_path, ["--debug-server"]) as url:
        assert requests.get(f"{url}/me", timeout=5).status_code == 401


def test_help_documents_every_setting():
    out = subprocess.run([sys.executable, str(ROOT / "run_server.py"), "--help"], capture_output=True, text=True,
                         check=True).stdout
    for flag in ["--host", "--port", "--db", "--idle-timeout", "--absolute-timeout", "--touch-interval",
                 "--trusted-proxy", "--https-cookies", "--workers", "--threads", "--header-timeout", "--body-timeout"]:
        assert flag in out
    assert "SESSIONS_IDLE_TIMEOUT" in out


@pytest.mark.parametrize(
    ("command", "name"),
    [(["run_server.py"], "run_server.py"), (["-m", "impl"], "python -m impl"),
     ([os.path.join(os.path.dirname(sys.executable), "sessions-server")], "sessions-server")],
)  # fmt: skip
def test_help_names_the_command_that_was_typed(command, name):
    if command[0].endswith("sessions-server") and not os.path.exists(command[0]):
        pytest.skip("the sessions-server script is not installed beside this interpreter")
    run = command if command[0].endswith("sessions-server") else [sys.executable, *command]
    out = subprocess.run([*run, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: {name} ")
    # Every default reads as what it is: no None, no empty string, never two for one flag.
    flat = " ".join(out.stdout.split())
    assert "(default: None)" not in flat and "(default: )" not in flat
    for option in flat.split(" --")[1:]:
        assert option.count("(default:") <= 1, option


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--idle-timeout", "0"], "--idle-timeout must be positive"),
        (["--idle-timeout", "soon"], "--idle-timeout: invalid float value: 'soon'"),
        (["--scrypt-n", "1000"], "--scrypt-n must be a power of two"),
        (["--body-timeout", "0"], "--body-timeout must be positive"),
        (["--trusted-proxy", "my-proxy"], "--trusted-proxy: 'my-proxy' is not an IP address"),
        (["--workers", "0"], "at least 1"),
        (["--port", "70000"], "--port: 70000 is not a port number (0 to 65535)"),
        (["--port", "http"], "--port: 'http' is not a port number"),
    ],
)
def test_bad_settings_exit_2_with_a_one_line_reason_naming_the_flag(tmp_path, args, message):
    result = subprocess.run([sys.executable, str(ROOT / "run_server.py"), "--db", str(tmp_path / "s.db"), "--port", "0", *args],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    reason = result.stderr.split(": ", 1)[1]
    assert "Traceback" not in result.stderr and "_" not in reason, "name the flag, not an internal field"


def test_db_in_a_missing_folder_is_refused_and_nothing_is_created(tmp_path):
    missing = tmp_path / "nonexistent" / "dir"
    result = subprocess.run([sys.executable, str(ROOT / "run_server.py"), "--db", str(missing / "x.db"), "--port", "0"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert f"folder {missing} does not exist" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "nonexistent").exists()


def test_default_database_is_in_the_per_user_data_folder_whatever_the_current_folder(tmp_path):
    data_home = tmp_path / "data-home"
    expected = data_home / "sessions-reference" / "sessions.db"
    for workdir in [tmp_path / "one", tmp_path / "two"]:
        workdir.mkdir()
        server = ServerProcess(
            [sys.executable, str(ROOT / "run_server.py"), "--port", "0", "--workers", "1", "--no-access-log"],
            cwd=workdir, env={**os.environ, "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(data_home)},
        )
        with server:
            assert server.url.startswith("http://")
            assert server.next_line(10) == f"data in {expected}"
        assert not any(workdir.iterdir()), "nothing may be written to the current folder"
    assert expected.exists()
    assert (expected.parent.stat().st_mode & 0o777) == 0o700


def test_database_url_is_left_to_the_store_untouched_by_path_checks():
    from impl.serve import build_parser, config_from_args

    url = "postgresql://user@db.internal/sessions"
    config = config_from_args(build_parser().parse_args(["--db", url]))
    assert config.db == url


def test_unusable_database_path_exits_2_with_a_one_line_reason(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = subprocess.run([sys.executable, str(ROOT / "run_server.py"), "--db", str(blocker / "s.db"), "--port", "0"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "cannot open database" in result.stderr and "Traceback" not in result.stderr


def test_revocation_holds_in_every_worker_on_the_very_next_requests(server):
    requests.post(f"{server}/signup", json={"email": "ann@example.com", "password": "correct horse"}, timeout=10)
    victims = [login(server, "ann@example.com") for _ in range(5)]
    keeper = login(server, "ann@example.com")

    def me(token: str) -> int:
        # A fresh connection each time, so the kernel spreads them over workers.
        return requests.get(f"{server}/me", cookies={"session": token}, timeout=10).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert set(pool.map(me, victims * 10)) == {200}  # every worker has seen them alive
        r = requests.post(f"{server}/me/sessions/revoke-all", cookies={"session": keeper}, timeout=10)
        assert r.status_code == 200 and r.json()["revoked"] == 5
        assert set(pool.map(me, victims * 40)) == {401}
        assert set(pool.map(me, [keeper] * 40)) == {200}


def test_concurrent_logins_across_workers_are_all_kept(server):
    requests.post(f"{server}/signup", json={"email": "bob@example.com", "password": "correct horse"}, timeout=10)
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        tokens = list(pool.map(lambda i: login(server, "bob@example.com", f"agent-{i}"), range(100)))
    assert len(set(tokens)) == 100
    listed = requests.get(f"{server}/me/sessions", cookies={"session": tokens[0]}, timeout=10).json()
    assert len(listed) == 100
    assert sum(s["isCurrent"] for s in listed) == 1


def test_busy_port_exits_2_instead_of_sharing_it(tmp_path, server):
    port = server.rsplit(":", 1)[1]
    result = subprocess.run([sys.executable, str(ROOT / "run_server.py"), "--db", str(tmp_path / "other.db"),
                             "--port", port], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "cannot listen on" in result.stderr and "in use" in result.stderr


def test_maintenance_thread_purges_expired_sessions_until_stopped(tmp_path):
    config = Config(db=str(tmp_path / "s.db"), idle_timeout=1, purge_interval=0.2)
    store = open_store(config.db)
    store.add_user("u1", "a@b.c", "a@b.c", "h", 0)
    manager = SessionManager(store, config, clock=lambda: 0.0)  # created at the epoch: long expired
    token = manager.start("u1", Client.of("127.0.0.1", "curl/8"))
    manager = SessionManager(store, config)  # from now on, today's clock
    assert manager.why_not(token) == "expired"  # the row is there, and says why
    stop = threading.Event()
    thread = threading.Thread(target=maintain, args=(config, stop))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while manager.why_not(token) != "unauthenticated" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert manager.why_not(token) == "unauthenticated"  # purged: nothing left to say
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_maintenance_outlives_a_database_it_cannot_open_at_start_and_purges_once_it_can(tmp_path):
    # The database is prepared aside, with one long-expired session, and
    # moved into place only after the loop has already failed to open it.
    aside, live = tmp_path / "aside", tmp_path / "live"
    aside.mkdir()
    config = Config(db=str(live / "s.db"), idle_timeout=1, purge_interval=0.05)
    store = open_store(str(aside / "s.db"))
    store.add_user("u1", "a@b.c", "a@b.c", "h", 0)
    token = SessionManager(store, config, clock=lambda: 0.0).start("u1", Client.of("127.0.0.1", "curl/8"))
    store.close()
    stop = threading.Event()
    thread = threading.Thread(target=maintain, args=(config, stop))
    thread.start()
    try:
        time.sleep(0.3)  # several runs, none of which could open it
        assert thread.is_alive()
        aside.rename(live)
        manager = SessionManager(open_store(config.db), config)
        deadline = time.monotonic() + 10
        while manager.why_not(token) != "unauthenticated" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert manager.why_not(token) == "unauthenticated"
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_a_database_url_is_printed_without_its_password(tmp_path):
    url = "postgresql://ann:s3cret-pw@127.0.0.1:1/sessions?sslmode=disable"
    assert describe_database(url) == "postgresql://ann@127.0.0.1:1/sessions"
    result = subprocess.run([sys.executable, str(ROOT / "run_server.py"), "--db", url, "--port", "0"],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode != 0
    assert "s3cret-pw" not in result.stdout + result.stderr
    assert "postgresql://ann@127.0.0.1:1/sessions" in result.stderr
