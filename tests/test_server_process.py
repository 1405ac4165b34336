"""The one way to start a server and wait for it (conformance/server_process.py): its deadline, its words, its stop."""

from __future__ import annotations

import sys
import time

import pytest

from conformance.server_process import ServerProcess, ServerStartError


def python(code: str) -> list[str]:
    return [sys.executable, "-u", "-c", code]


def test_server_that_never_listens_fails_at_the_deadline_quoting_what_it_printed():
    code = "import sys, time; print('warming up'); print('opening the database', file=sys.stderr); time.sleep(60)"
    started = time.monotonic()
    with pytest.raises(ServerStartError) as failure:
        ServerProcess(python(code), name="slowpoke", start_timeout=1).start()
    assert time.monotonic() - started < 30  # the deadline, not the server's minute
    message = str(failure.value)
    assert message.startswith("slowpoke did not start: it printed no `listening on` line within 1 s")
    assert "--- its stdout ---\nwarming up" in message
    assert "--- its stderr (last lines) ---\nopening the database" in message


def test_server_that_exits_says_its_status_and_stderr(tmp_path):
    code = "import sys; print('no such database', file=sys.stderr); sys.exit(3)"
    server = ServerProcess(python(code), name="crasher", stderr=tmp_path / "err.log")
    with pytest.raises(ServerStartError, match=r"crasher did not start: it exited with status 3 before listening"):
        server.start()
    assert "no such database" in server.printed()


def test_url_comes_from_the_listening_line_and_later_lines_stay_readable():
    code = (
        "import time; print('starting'); print('listening on http://127.0.0.1:9/'); print('data in /tmp/x');"
        "time.sleep(60)"
    )
    with ServerProcess(python(code)) as server:
        assert server.url == "http://127.0.0.1:9/"
        assert server.next_line(10) == "data in /tmp/x"
        assert server.next_line(0.1) is None
    assert server.process is not None and server.process.returncode is not None


def test_server_deaf_to_the_stop_signal_is_killed_after_the_grace():
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        "print('listening on http://127.0.0.1:9'); time.sleep(60)"
    )
    server = ServerProcess(python(code), stop_timeout=0.5)
    server.start()
    server.stop()
    assert server.process is not None and server.process.returncode == -9
    server.stop()  # twice is harmless
