"""GET /metrics: Prometheus text from every worker, on a port of its own, off by default, with nothing of a user in it."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import requests
from prometheus_client.parser import text_string_to_metric_families

from .servers import ROOT, TEST_ARGS, running_server

PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_every_workers_requests_sessions_refusals_and_nothing_of_a_user(tmp_path):
    port = free_port()
    email = "metrics-user@example.com"
    with running_server(tmp_path, ["--metrics-port", str(port), "--throttle-limit", "1"], workers=2) as url:
        base = url.rpartition(":")[0]
        device = requests.Session()
        assert device.post(f"{url}/signup", json={"email": email, "password": PASSWORD}).status_code == 201
        assert device.post(f"{url}/login", json={"email": email, "password": PASSWORD}).status_code == 200
        for _ in range(20):  # on fresh connections, so both workers serve some
            assert requests.get(f"{url}/me", cookies=device.cookies, headers={"Connection": "close"}).status_code == 200
        other = requests.Session()
        assert other.post(f"{url}/login", json={"email": email, "password": PASSWORD}).status_code == 200
        assert device.post(f"{url}/me/sessions/revoke-all").status_code == 200
        assert device.post(f"{url}/logout").status_code == 200
        statuses = [requests.post(f"{url}/login", json={"email": email, "password": "wrong password!"}).status_code
                    for _ in range(3)]
        assert statuses == [401, 429, 429]
        text = requests.get(f"{base}:{port}/metrics", timeout=10).text
        assert requests.get(f"{url}/metrics").status_code == 404  # never on the API's port
    got = samples(text)
    assert got[("sessions_http_requests_total", (("method", "GET"), ("route", "/me"), ("status", "200")))] == 20
    assert got[("sessions_http_request_duration_seconds_count", (("route", "/me"),))] == 20
    assert got[("sessions_created_total", ())] == 2
    assert got[("sessions_ended_total", (("reason", "revoked"),))] == 1
    assert got[("sessions_ended_total", (("reason", "logged_out"),))] == 1
    assert got[("sessions_login_throttled_total", ())] == 2
    cookie_values = [c.value for c in device.cookies] + [c.value for c in other.cookies]
    for secret in [email, "metrics-user", "127.0.0.1", *cookie_values]:
        assert secret not in text
    # Route patterns, never a session's id.
    assert not re.search(r'route="[^"]*[A-Za-z0-9_-]{22}', text)


def test_metrics_are_off_unless_asked(tmp_path):
    with running_server(tmp_path) as url:
        assert requests.get(f"{url}/metrics").status_code == 404


def test_a_busy_metrics_port_is_refused_with_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([sys.executable, str(ROOT / "run_server.py"), *TEST_ARGS, "--port", "0",
                                 "--db", str(tmp_path / "s.db"), "--metrics-port", str(port)],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--metrics-port" in result.stderr and len(result.stderr.strip().splitlines()) == 1
