"""Checks of the benchmark's own machinery: `.venv/bin/python -m pytest bench`.

They assert what the benchmark relies on (seeded rows are sessions the real
server accepts, wrk's report is read right), never how fast anything is.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess

import harness
import pytest
import report
import run
import seed

from impl.config import Config
from impl.sessions import SessionManager
from impl.store.sqlite import SqliteStore


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "bench.db")


def test_seeded_tokens_authenticate_with_the_servers_own_code(db):
    seeder = seed.Seeder(db)
    users = seeder.add_users(3, "user")
    tokens = seeder.add_sessions(users, 4, keep_tokens=5)
    seeder.write()

    manager = SessionManager(SqliteStore(db), Config(db=db))
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
    manager = SessionManager(SqliteStore(db), Config(db=db))
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
        since = int(SessionManager(SqliteStore(db), Config(db=db)).clock() * 1000)
        figures = harness.Load(shutil.which("wrk"), 1, 2, 2).run(server.url + "/me", ["cookies", cookies])
    finally:
        server.stop()
    assert figures["requests"] > 20 and not figures["errors"]
    assert run.count_touched(db, "rotation", since) == 20


def test_ceiling_apps_answer_like_the_reference_healthz():
    import wsgiref.util

    import ceilings

    def call(app, path):
        seen = {}
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path}
        wsgiref.util.setup_testing_defaults(environ)
        body = b"".join(app(environ, lambda status, headers, exc_info=None: seen.update(status=status, headers=dict(headers))))
        return seen["status"], seen["headers"].get("Content-Type"), body

    assert call(ceilings.wsgi_hello, "/healthz") == ("200 OK", "application/json", b'{"status":"ok"}')
    status, content_type, body = call(ceilings.bottle_hello, "/healthz")
    assert (status, content_type, json.loads(body)) == ("200 OK", "application/json", {"status": "ok"})
    assert call(ceilings.bottle_hello, "/other")[0].startswith("404")


def test_granian_serves_a_ceiling_app_with_the_given_layout(tmp_path):
    server = harness.GranianApp("wsgi", "ceilings:wsgi_hello", str(tmp_path), workers=1, threads=2)
    assert server.describe().endswith("--workers 1 --blocking-threads 2 --no-log ceilings:wsgi_hello")
    server.start()
    try:
        status, _, body, _ = harness.request(server.url, "GET", "/healthz")
        assert (status, body) == (200, {"status": "ok"})
        assert len(server.pids()) >= 2, "granian's master and its worker"
    finally:
        server.stop()
    assert server.pids() == [] and server.problems() == []


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_server_sessions_are_made_through_its_http_api(tmp_path):
    server = harness.NodeServer("node", str(tmp_path), node=shutil.which("node"), scrypt_cost=1024)
    server.start()
    try:
        tokens = harness.login_many(server.url, "rotation", 3, 2)
        assert len(set(tokens)) == 6
        for token in tokens:
            harness.check_me(server.url, token, "a node session")
        emails = [harness.request(server.url, "GET", "/me", cookie=t)[2]["email"] for t in tokens[:3]]
        assert len(set(emails)) == 3, "consecutive tokens belong to different users"
    finally:
        server.stop()


def synthetic_headline(node: bool) -> report.Results:
    """Results with one round per headline cell; req/s chosen so every ratio is known."""
    results = report.Results()
    results.meta["extra_servers"] = {"wsgi": "granian … ceilings:wsgi_hello", "bottle": "granian … ceilings:bottle_hello"}
    rps = {("wsgi", "hello"): 20_000, ("bottle", "hello"): 16_000, ("log", "healthz"): 10_000,
           ("log", "me"): 6_000, ("log", "me_rotating"): 5_000, ("nolog", "healthz"): 12_000, ("nolog", "me"): 8_000}
    if node:
        results.meta["extra_servers"]["node"] = "node examples/node-server/server.js --scrypt-cost 1024"
        rps.update({("node", "me"): 12_000, ("node", "me_rotating"): 10_000})
    else:
        results.meta["node_skipped"] = "`node` is not on PATH"
    for (server, scenario), value in rps.items():
        results.runs.append({"group": "headline", "server": server, "scenario": scenario, "round": 0, "rps": value,
                             "p50_ms": 1.0, "p99_ms": 9.0, "requests": value, "errors": {}, "foreign_cpu": 0.0})
    return results


def test_headline_puts_the_reference_beside_the_ceilings_and_node():
    args = run.resolve(run.build_parser().parse_args([]))
    results = synthetic_headline(node=True)
    text = "\n".join(report.headline_lines(results, args))
    assert report.NODE_LABEL in text and "ceilings:bottle_hello" in text
    assert "ran 5 s per round" in text
    me = results.summary["headline"]["log"]["me"]
    assert (me["ratio"], me["vs_bottle"], me["vs_wsgi"]) == (0.6, 0.375, 0.3)
    assert results.summary["comparison"]["node_me_over_reference_me"] == 2.0
    report.judge_node(results)
    assert results.targets[-1]["result"] == "MISS"
    assert results.targets[-1]["measured"].startswith("6,000 vs 12,000 req/s")


def test_headline_without_node_says_why():
    args = run.resolve(run.build_parser().parse_args(["--quick"]))
    assert args.extra_duration == args.duration == 2.0
    results = synthetic_headline(node=False)
    text = "\n".join(report.headline_lines(results, args))
    assert f"{report.NODE_LABEL}: not measured, `node` is not on PATH." in text
    report.judge_node(results)
    assert results.targets[-1]["result"] == "n/a"
