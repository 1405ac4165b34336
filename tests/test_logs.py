"""Every stderr line of a running server has the one format: time, level, logger; or, asked for, one JSON object."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import requests

from .servers import ROOT, run_server_process

TEXT_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: .*")


def serve_and_stop(tmp_path, log_format: str) -> str:
    """Run a two-worker server with its access log, make a few requests, stop it; return its stderr."""
    log = tmp_path / "stderr.log"
    args = ["--access-log", "--log-format", log_format]  # after the defaults, so they win over --no-access-log
    with run_server_process(tmp_path, args, workers=2, log="stderr.log") as server:
        url = server.url
        assert requests.post(f"{url}/login?secret=1", json={"email": "a@b.c", "password": "x" * 12}).status_code == 401
        assert requests.get(f"{url}/me").status_code == 401
    return log.read_text()


def test_every_line_of_a_text_log_starts_with_time_level_and_logger(tmp_path):
    text = serve_and_stop(tmp_path, "text")
    lines = text.splitlines()
    assert [line for line in lines if not TEXT_LINE.fullmatch(line)] == []
    access = [line for line in lines if " impl.access: " in line]
    assert any(re.search(r"impl.access: 127\.0\.0\.1 POST /login 401 ", line) for line in access), access
    assert "secret" not in text


def test_every_line_of_a_json_log_is_one_object_with_time_level_and_logger(tmp_path):
    text = serve_and_stop(tmp_path, "json")
    entries = [json.loads(line) for line in text.splitlines()]
    assert all({"time", "level", "logger"} <= set(e) for e in entries)
    assert any(e["logger"] == "impl.access" and e["client"] == "127.0.0.1" and e["path"] == "/me"
               and e["status"] == 401 for e in entries)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_librarys_own_warnings_get_the_same_format(log_format):
    # psycopg's pool logs through the logging module with no handler of its own.
    code = ("import logging, logging.config; from impl.logs import logging_config;"
            f"logging.config.dictConfig(logging_config({log_format!r}));"
            "logging.getLogger('psycopg.pool').warning('error connecting in %r', 'sessions-store')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    line = result.stderr.strip()
    if log_format == "text":
        assert TEXT_LINE.fullmatch(line) and "WARNING psycopg.pool: error connecting" in line, line
    else:
        entry = json.loads(line)
        assert entry["logger"] == "psycopg.pool" and entry["level"] == "WARNING" and entry["time"]
