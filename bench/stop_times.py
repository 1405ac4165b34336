#!/usr/bin/env python3
"""How long one Ctrl-C, or one SIGTERM to the main process, takes to stop every process.

    .venv/bin/python bench/stop_times.py              # 20 tries of each, 2 workers
    .venv/bin/python bench/stop_times.py --tries 50

Each try starts run_server.py in its own process group, waits until both
workers serve (granian's "Started worker-N runtime" lines), sends the
signal (SIGINT to the whole group, as a terminal's Ctrl-C does; SIGTERM to
the main process only, as a service manager does), and times until no
process of the group is left. Prints median and max per signal, and how
many tries left a process behind after 15 s (killed then).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from conformance.server_process import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
BOUND = 15.0


def group_alive(pgid: int) -> bool:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def one_try(workdir: str, how: str, workers: int) -> float:
    log = Path(workdir) / "stderr.log"
    server = ServerProcess(
        [sys.executable, str(ROOT / "run_server.py"), "--port", "0", "--db", f"{workdir}/s.db",
         "--scrypt-n", "1024", "--no-access-log", "--workers", str(workers)],
        name="run_server.py", env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=log, new_session=True,
    )  # fmt: skip
    server.start()
    proc = server.process
    assert proc is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(re.findall(r"Started worker-\d+ runtime", log.read_text())) < workers:
        time.sleep(0.05)
    started = time.monotonic()
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        os.kill(proc.pid, signal.SIGTERM)
    while group_alive(proc.pid) and time.monotonic() - started < BOUND:
        proc.poll()
        time.sleep(0.01)
    elapsed = time.monotonic() - started
    if group_alive(proc.pid):
        os.killpg(proc.pid, signal.SIGKILL)
        elapsed = float("inf")
    server.stop()  # the leader has exited: this only releases its pipes
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tries", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    for how in ["ctrl-c", "sigterm"]:
        times = []
        for _ in range(args.tries):
            with tempfile.TemporaryDirectory() as workdir:
                times.append(one_try(workdir, how, args.workers))
        done = [t for t in times if t != float("inf")]
        print(f"{how:8} {args.tries} tries, {args.workers} workers: median {statistics.median(done):.2f} s, "
              f"max {max(done):.2f} s, left behind {len(times) - len(done)}")


if __name__ == "__main__":
    main()
