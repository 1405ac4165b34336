"""Checks of the benchmark's own machinery: `.venv/bin/python -m pytest bench`.

They assert what the benchmark relies on (seeded rows are sessions the real
server accepts, wrk's report is read right), never how fast anything is.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess

import harness
import pytest
import run
import seed

from impl.config import Config
from impl.sessions import SessionManager
from impl.store import SqliteStore


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "bench.db")


def test_seeded_tokens_authenticate_with_the_servers_own_code(db):
    seeder = seed.Seeder(db)
    users = seeder.add_users(3, "user")
    tokens = seeder.add_sessions(users, 4, keep_tokens=5)
    seeder.write()

    manager = SessionManager(SqliteStore(db), Config(db_path=db))
    sessions = [manager.authenticate(token) for token in tokens]
    assert len(tokens) == 5
    assert all(sessions), "every kept token is a live session"
    assert len({s.user_id for s in sessions}) == 3, "kept tokens are spread over the users"
    assert all(" on " in s.device_name for s in sessions)
    assert len(manager.list_for_user(users[0])) == 4


def test_seeded_file_has_the_servers_schema_and_indexes(db, tmp_path):
    seeder = seed.Seeder(db)
    seeder.add_sessions(seeder.add_users(2, "user"), 10)
    seeder.write()
    reference = str(tmp_path / "reference.db")
    SqliteStore(reference).close()

    def schema(path):
        conn = sqlite3.connect(path)
        try:
            return sorted(conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall())
        finally:
            conn.close()

    assert schema(db) == schema(reference)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM sessions").fetchone() == (20,)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


def test_stale_sessions_are_due_for_an_activity_write_and_fresh_ones_are_not(db):
    seeder = seed.Seeder(db)
    stale = seeder.add_sessions(seeder.add_users(1, "stale"), 1, keep_tokens=1)
    fresh = seeder.add_sessions(seeder.add_users(1, "fresh"), 1, stale=False, keep_tokens=1)
    seeder.write()
    manager = SessionManager(SqliteStore(db), Config(db_path=db))
    now = manager.clock()
    assert now - manager.authenticate(stale[0]).last_active_at < 5, "first use wrote the activity"
    assert run.count_touched(db, "stale", int((now - 5) * 1000)) == 1
    assert run.count_touched(db, "fresh", int((now + 5) * 1000)) == 0
    assert manager.authenticate(fresh[0]) is not None


def test_wrk_report_becomes_requests_per_second_and_milliseconds():
    raw = {
        "requests": 5000,
        "duration_us": 2_000_000,
        "bytes": 1,
        "errors": {"connect": 0, "read": 0, "write": 0, "status": 3, "timeout": 0},
        "latency_us": {"min": 1, "mean": 1500.0, "stdev": 1.0, "max": 9000,
                       "p50": 1200, "p75": 1, "p90": 2500, "p99": 8000, "p999": 1},
    }
    figures = harness.summarise_wrk(raw)
    assert figures["rps"] == 2500
    assert (figures["p50_ms"], figures["p99_ms"]) == (1.2, 8.0)
    assert figures["errors"] == {"status": 3}


def test_process_tree_finds_children(tmp_path):
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert child.pid in harness.process_tree(os.getpid())
        assert harness.rss_bytes(os.getpid()) > 0
    finally:
        child.kill()
        child.wait()


def test_foreign_cpu_share_is_a_fraction_of_the_machine():
    with harness.ForeignCpu([]) as meter:
        sum(i * i for i in range(200_000))  # our own work is not foreign
    assert 0.0 <= meter.share <= 1.0


def test_server_defaults_ignore_the_callers_environment(monkeypatch):
    monkeypatch.setenv("SESSIONS_THREADS", "13")
    assert harness.server_defaults().threads != 13


def test_quick_settings_fill_only_what_was_not_given():
    args = run.resolve(run.build_parser().parse_args(["--quick", "--rounds", "4"]))
    assert (args.duration, args.rounds, args.big_table) == (2.0, 4, 100_000)
    assert args.out.endswith(os.path.join("results", "quick"))


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_wrk_script_rotates_through_every_cookie(db, tmp_path):
    seeder = seed.Seeder(db)
    tokens = seeder.add_sessions(seeder.add_users(20, "rotation"), 1)
    seeder.write()
    cookies = run.write_cookies(str(tmp_path / "cookies.txt"), tokens)
    server = harness.Server("t", db, str(tmp_path), workers=1, threads=2, access_log=False)
    server.start()
    try:
        since = int(SessionManager(SqliteStore(db), Config(db_path=db)).clock() * 1000)
        figures = harness.Load(shutil.which("wrk"), 1, 2, 2).run(server.url + "/me", ["cookies", cookies])
    finally:
        server.stop()
    assert figures["requests"] > 20 and not figures["errors"]
    assert run.count_touched(db, "rotation", since) == 20
