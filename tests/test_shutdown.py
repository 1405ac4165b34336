"""Stopping the server: one Ctrl-C, or one SIGTERM to the main process, ends every process, every time.

A terminal's Ctrl-C sends SIGINT to the whole foreground process group:
the main process and its workers at once. A service manager sends SIGTERM
to the main process only. Both are tried 20 times with two workers, the
layout where a worker used to outlive the main process. The
bound is generous ("gone within N seconds"); bench/stop_times.py prints
the measured stop times.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import time
from pathlib import Path

import pytest
import requests

from conformance.server_process import ServerProcess

from .servers import run_server_process

TRIES = 20
# Far above the few seconds a stop takes; a hang is forever.
STOP_BOUND = 15.0


def group_members(pgid: int) -> list[int]:
    """Return the pids of live (non-zombie) processes in process group `pgid`."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # Fields after the command name, which is in parentheses and may hold spaces.
        fields = stat.rpartition(")")[2].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


def start(workdir: Path, serving: bool) -> ServerProcess:
    """Start run_server.py with two workers in its own process group, as a shell would.

    Return once it listens, or, with `serving`, once its workers have
    answered requests (the end of a lesson rather than a quick restart).
    """
    server = run_server_process(workdir, workers=2, log="stderr.log", new_session=True)
    server.start()
    log = workdir / "stderr.log"
    if serving:
        url = server.url
        assert requests.get(f"{url}/healthz", timeout=10).status_code == 200
        # granian logs this line once a worker serves (and listens for signals).
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(re.findall(r"Started worker-\d+ runtime", log.read_text())) < 2:
            time.sleep(0.05)
    return server


def stop_time(server: ServerProcess, send: str) -> float:
    """Send the signal, return the seconds until no process of the group is left (kill them all past the bound)."""
    proc = server.process
    assert proc is not None
    pgid = proc.pid
    started = time.monotonic()
    if send == "ctrl-c":
        os.killpg(pgid, signal.SIGINT)
    else:
        os.kill(proc.pid, signal.SIGTERM)
    while time.monotonic() - started < STOP_BOUND:
        proc.poll()
        if not group_members(pgid):
            break
        time.sleep(0.02)
    elapsed = time.monotonic() - started
    left = group_members(pgid)
    if left:
        os.killpg(pgid, signal.SIGKILL)
    server.stop()  # the leader has exited: this only releases its pipes
    return elapsed if not left else float("inf")


@pytest.mark.parametrize("send", ["ctrl-c", "sigterm"])
def test_one_signal_stops_every_process_every_time(tmp_path, send):
    def trial(i: int) -> float:
        workdir = tmp_path / str(i)
        workdir.mkdir()
        # Every other try stops it at once: a worker that has not finished
        # starting must stop too.
        return stop_time(start(workdir, serving=bool(i % 2)), send)

    # Three servers at a time: a stop is mostly waiting, and the tries stay
    # independent (each server has its own process group and database).
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        times = list(pool.map(trial, range(TRIES)))
    hung = [t for t in times if t > STOP_BOUND]
    assert not hung, f"{len(hung)} of {TRIES} stops left processes behind; times: {times}"
