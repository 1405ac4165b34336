"""The access log: one line per request, nothing the client could use to forge or leak."""

import asyncio
import io
import json
import re
import threading

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


class Writes(io.StringIO):
    """A stream that remembers each write call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def write(self, text: str) -> int:
        self.calls.append(text)
        return super().write(text)


GET = {"REQUEST_METHOD": "GET", "PATH_INFO": "/me"}


def test_lines_of_one_turn_of_the_event_loop_go_out_in_one_write_when_the_turn_ends():
    stream = Writes()
    log = AccessLog(stream)

    async def three_requests_in_one_turn() -> list[str]:
        log.batch_on(asyncio.get_running_loop())
        for _ in range(3):
            log.write(GET, "200", 0.001)
        before = list(stream.calls)
        await asyncio.sleep(0)  # the turn ends
        return before

    before = asyncio.run(three_requests_in_one_turn())
    assert before == []
    assert len(stream.calls) == 1
    assert [LINE.fullmatch(line + "\n").group(3) for line in stream.calls[0].splitlines()] == ["/me"] * 3


def test_a_line_written_by_a_pool_thread_wakes_the_loop_to_write_it():
    stream = Writes()
    log = AccessLog(stream)

    async def a_request_in_a_thread() -> None:
        log.batch_on(asyncio.get_running_loop())
        thread = threading.Thread(target=log.write, args=(GET, "200", 0.001))
        thread.start()
        thread.join()
        for _ in range(100):  # the loop must not need another request to write it
            if stream.calls:
                return
            await asyncio.sleep(0.01)

    asyncio.run(a_request_in_a_thread())
    assert len(stream.calls) == 1 and LINE.fullmatch(stream.calls[0])


def test_without_a_loop_every_line_is_written_at_once_and_nothing_gathered_is_lost():
    stream = Writes()
    log = AccessLog(stream)

    async def gather_then_stop() -> None:
        log.batch_on(asyncio.get_running_loop())
        log.write(GET, "200", 0.001)
        log.batch_on(None)  # the worker stops before the turn ends

    asyncio.run(gather_then_stop())
    assert len(stream.calls) == 1
    log.write(GET, "200", 0.001)
    assert len(stream.calls) == 2
