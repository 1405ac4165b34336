"""The access log: one line per request, nothing the client could use to forge or leak."""

import io
import json
import re

from impl.accesslog import AccessLog

LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO impl.access: (\S+) (\S+) (\S+) (\d{3}|-) (\d+\.\d)ms\n")


def write(environ, status="200", seconds=0.0123):
    stream = io.StringIO()
    AccessLog(stream).write(environ, status, seconds)
    return stream.getvalue()


def test_line_has_time_method_path_status_and_milliseconds():
    line = write({"REQUEST_METHOD": "GET", "PATH_INFO": "/me/sessions", "QUERY_STRING": "token=secret"})
    assert LINE.fullmatch(line).groups() == ("-", "GET", "/me/sessions", "200", "12.3")
    assert "secret" not in line


def test_control_characters_in_path_or_method_cannot_forge_a_line():
    line = write({"REQUEST_METHOD": "GET\nFAKE", "PATH_INFO": "/x\n2026-01-01 00:00:00 GET /admin 200 0.1ms"})
    assert line.count("\n") == 1
    assert LINE.fullmatch(line)


def test_mounted_app_logs_its_script_name():
    assert " /api/me " in write({"REQUEST_METHOD": "GET", "SCRIPT_NAME": "/api", "PATH_INFO": "/me"})


def test_line_names_the_client_address():
    line = write({"REQUEST_METHOD": "GET", "PATH_INFO": "/me", "REMOTE_ADDR": "2001:db8::1"})
    assert LINE.fullmatch(line).group(1) == "2001:db8::1"


def test_json_lines_carry_the_same_fields_and_no_query_string():
    stream = io.StringIO()
    AccessLog(stream, json_lines=True).write(
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/me", "QUERY_STRING": "t=secret", "REMOTE_ADDR": "10.0.0.1"}, "401", 0.0021
    )
    entry = json.loads(stream.getvalue())
    assert stream.getvalue().count("\n") == 1 and "secret" not in stream.getvalue()
    assert (entry["client"], entry["method"], entry["path"], entry["status"], entry["ms"]) == ("10.0.0.1", "GET", "/me", 401, 2.1)
    assert entry["level"] == "INFO" and entry["logger"] == "impl.access" and entry["time"].endswith("Z")
