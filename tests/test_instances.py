"""Several `run_server.py` instances on one PostgreSQL database behave as one server.

Three instances (A, B, C), one granian worker each, share one database and
nothing else; every check goes over HTTP as a browser behind a load
balancer would, a request to one instance and the next to another. Then the
conformance suite at `--level hardening` runs against two PostgreSQL-backed
instances behind a round-robin balancer (every request to the next one), as
tests/test_reference_conformance.py runs it against the SQLite reference.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from conformance import rules

from . import postgres
from .servers import ROOT, run_server_process

TRIALS = 40


@contextlib.contextmanager
def instances(workdir: Path, database: str, count: int, args: tuple[str, ...] = ()) -> Iterator[list[str]]:
    """Start `count` run_server.py processes on one database, all at once; yield their base URLs."""
    with contextlib.ExitStack() as running:
        servers = [
            run_server_process(workdir, [*args, "--db", database], log=f"instance-{i}.log") for i in range(count)
        ]
        for i, server in enumerate(servers):
            running.callback(server.stop)
            server.name = f"instance {i}"
        # All started before any is waited for: they race for the schema, as a deployment's would.
        for server in servers:
            server.launch()
        yield [server.wait_listening() for server in servers]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[list[str]]:
    """Instances A, B and C on one fresh PostgreSQL database."""
    database = postgres.postgres_database()
    with instances(tmp_path_factory.mktemp("instances"), database, 3) as urls:
        yield urls


class Device:
    """One browser: its own cookie, sent to whichever instance it is asked to reach."""

    def __init__(self) -> None:
        self.http = requests.Session()

    def call(self, base: str, method: str, path: str, **kwargs) -> requests.Response:
        return self.http.request(method, base + path, timeout=30, **kwargs)

    def login(self, base: str, email: str) -> requests.Response:
        return self.call(base, "POST", "/login", json={"email": email, "password": "correct horse"})

    def current_id(self, base: str) -> str:
        listed = self.call(base, "GET", "/me/sessions")
        assert listed.status_code == 200, listed.text
        return next(s["id"] for s in listed.json() if s["isCurrent"])


def new_user(base: str) -> str:
    email = f"inst-{uuid.uuid4().hex[:10]}@example.com"
    response = requests.post(base + "/signup", json={"email": email, "password": "correct horse"}, timeout=30)
    assert response.status_code == 201, response.text
    return email


def logged_in(base: str, email: str) -> Device:
    device = Device()
    assert device.login(base, email).status_code == 200
    return device


def test_a_login_on_one_instance_is_usable_on_all(cluster):
    a, b, c = cluster
    device = logged_in(c, new_user(a))
    assert [device.call(url, "GET", "/me").status_code for url in (a, b, c)] == [200, 200, 200]


def test_the_list_is_identical_from_every_instance(cluster):
    a, b, c = cluster
    email = new_user(b)
    devices = [logged_in(url, email) for url in (a, b, c, a)]
    lists = [devices[0].call(url, "GET", "/me/sessions").json() for url in (a, b, c)]
    assert len(lists[0]) == 4
    assert lists[0] == lists[1] == lists[2]


def test_a_revoke_on_instance_a_is_401_on_instance_b_at_the_next_request(cluster):
    a, b, _ = cluster
    email = new_user(a)
    me, victim = logged_in(a, email), logged_in(b, email)
    assert victim.call(b, "GET", "/me").status_code == 200  # used first, so any cache would hold it
    assert me.call(a, "DELETE", f"/me/sessions/{victim.current_id(b)}").status_code == 200
    refused = victim.call(b, "GET", "/me")
    assert refused.status_code == 401 and refused.json()["reason"] == "revoked"


def test_revoke_all_on_a_while_logins_run_on_b_leaves_no_session_alive_and_unlisted(cluster):
    a, b, c = cluster
    email = new_user(a)
    keep = logged_in(a, email)
    for _ in range(3):
        started: list[Device] = []
        go = threading.Event()

        def log_in_on_b() -> None:
            go.wait()
            for _ in range(12):
                device = Device()
                assert device.login(b, email).status_code == 200
                started.append(device)

        worker = threading.Thread(target=log_in_on_b)
        worker.start()
        go.set()
        assert keep.call(a, "POST", "/me/sessions/revoke-all").status_code == 200
        worker.join()
        listed = {s["id"] for s in keep.call(c, "GET", "/me/sessions").json()}
        alive = 0
        for device in started:
            if device.call(c, "GET", "/me").status_code == 200:
                alive += 1
                assert device.current_id(c) in listed, "a session alive on C but not in the list"
        assert len(listed) == alive + 1  # the list holds exactly the survivors and the caller


def test_of_two_revoke_alls_sent_to_two_instances_at_once_exactly_one_gets_200(cluster):
    a, b, c = cluster
    email = new_user(a)
    outcomes: dict[tuple[int, int], int] = {}
    for _ in range(TRIALS):
        first, second = logged_in(a, email), logged_in(b, email)
        bystander = logged_in(c, email)
        statuses = [0, 0]
        barrier = threading.Barrier(2)

        def send(i: int, device: Device, url: str) -> None:
            barrier.wait()
            statuses[i] = device.call(url, "POST", "/me/sessions/revoke-all").status_code

        threads = [threading.Thread(target=send, args=(0, first, a)), threading.Thread(target=send, args=(1, second, b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        key = (statuses[0], statuses[1])
        outcomes[key] = outcomes.get(key, 0) + 1
        assert sorted(statuses) == [200, 401], statuses
        winner, loser = (first, second) if statuses[0] == 200 else (second, first)
        assert winner.call(c, "GET", "/me").status_code == 200
        assert loser.call(c, "GET", "/me").status_code == 401
        assert bystander.call(c, "GET", "/me").status_code == 401
    print("revoke_all_race_outcomes:", {f"A {k[0]} / B {k[1]}": v for k, v in outcomes.items()})


# -- the conformance suite against a PostgreSQL-backed reference ---------------------------------------------

# Hop-by-hop headers (RFC 9110 7.6.1) are the balancer's own, never forwarded.
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}


@contextlib.contextmanager
def round_robin(backends: list[str], served: dict[str, int]) -> Iterator[str]:
    """A minimal load balancer: each request to the next backend in turn, Host passed through and the
    client's address in X-Forwarded-For (replacing what the client sent); yield its URL.

    `served` counts the requests each backend answered.
    """
    targets = itertools.cycle([urlsplit(url).netloc for url in backends])
    lock = threading.Lock()

    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            with lock:
                target = next(targets)
                served[target] = served.get(target, 0) + 1
            upstream = http.client.HTTPConnection(target, timeout=60)
            try:
                upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in self.headers.items():
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "x-forwarded-for":
                        upstream.putheader(name, value)
                # As an edge balancer should (nginx: `proxy_set_header X-Forwarded-For
                # $remote_addr`): the client's own address, replacing whatever it claimed,
                # for instances that trust the balancer (--trusted-proxy).
                upstream.putheader("X-Forwarded-For", self.client_address[0])
                upstream.endheaders(body)
                answer = upstream.getresponse()
                data = answer.read()
            finally:
                upstream.close()
            self.send_response_only(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = do_OPTIONS = do_HEAD = _forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


IDLE_TIMEOUT = 4
ABSOLUTE_TIMEOUT = 10
TOUCH_INTERVAL = 1


@pytest.fixture(scope="module")
def postgres_reference_run(tmp_path_factory) -> dict:
    """Run the suite at --level extensions against two PostgreSQL-backed instances behind a round-robin balancer."""
    workdir = tmp_path_factory.mktemp("postgres-conformance")
    report = workdir / "report.json"
    database = postgres.postgres_database()
    timeouts = ("--idle-timeout", str(IDLE_TIMEOUT), "--absolute-timeout", str(ABSOLUTE_TIMEOUT))
    # The instances trust the balancer's X-Forwarded-For, as docs/production.md's "Several instances" says.
    server_args = (*timeouts, "--touch-interval", str(TOUCH_INTERVAL), "--trusted-proxy", "127.0.0.1")
    served: dict[str, int] = {}
    with instances(workdir, database, 2, server_args) as backends, round_robin(backends, served) as url:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("CONFORMANCE_BASE_URL", None)
        proc = subprocess.run(
            [sys.executable, "-m", "conformance", "--base-url", url, "--level", "extensions",
             *timeouts, "--touch-interval", str(TOUCH_INTERVAL), "--json-report", str(report)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    output = (proc.stdout + proc.stderr)[-4000:]
    assert report.exists(), f"the suite wrote no report (exit {proc.returncode}):\n{output}"
    return {"exit_code": proc.returncode, "report": json.loads(report.read_text()), "output": output, "served": served}


def test_the_suite_at_extensions_passes_against_two_postgres_backed_instances(postgres_reference_run):
    run = postgres_reference_run
    assert len(run["served"]) == 2 and min(run["served"].values()) > 100, run["served"]
    print("requests per instance:", sorted(run["served"].values()))
    assert run["exit_code"] == 0, f"the suite exited {run['exit_code']}:\n{run['output']}"
    assert run["report"]["problems"] == []
    results = {result["id"]: result for result in run["report"]["rules"]}
    failing = {rule: results.get(rule, {}).get("outcome") for rule in rules.RULES if results.get(rule, {}).get("outcome") != "pass"}
    assert failing == {}, run["output"]


def test_exploration_spread_over_two_postgres_backed_instances_finds_no_divergence(cluster):
    # Devices alternate between instances A and B (--explore's several --base-url), over twenty seeds.
    from .test_explore import assert_no_divergence, explore_seeds

    assert_no_divergence(explore_seeds(cluster[:2], rules.EXTENSIONS, touch_interval=None))
