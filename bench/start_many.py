#!/usr/bin/env python3
"""Start the server many times, several at once, and count the starts that served: a start-up hang shows up here.

    .venv/bin/python bench/start_many.py                 # 300 starts, 3 at once
    .venv/bin/python bench/start_many.py --starts 1000 --at-once 4

Each start is tests/test_startup.py's: a two-worker server whose
maintenance purges every 10 ms, must print its first line, answer eight
GET /healthz on fresh connections, and stop on SIGTERM. Several run at
once, so the machine is loaded while workers are forked. Prints how many
starts served, how many did not (with the first few reasons), and the
median and slowest time to the first line.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# It reuses the tests' start-and-stop; tests/ is not an installed package,
# so the checkout's root has to be on the path for that import.
sys.path.insert(0, str(ROOT))

from tests.test_startup import start_and_stop  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=300)
    parser.add_argument("--at-once", type=int, default=3)
    args = parser.parse_args()
    times: list[float] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="start-many-") as tmp:

        def one(i: int) -> None:
            started = time.monotonic()
            problem = start_and_stop(Path(tmp) / str(i))
            if problem:
                failures.append(problem)
            else:
                times.append(time.monotonic() - started)

        began = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(args.at_once) as pool:
            for done, _ in enumerate(pool.map(one, range(args.starts)), 1):
                if done % 50 == 0:
                    print(f"  {done} starts, {len(failures)} failed", file=sys.stderr, flush=True)
    print(f"{len(times)} of {args.starts} starts served ({args.at_once} at once, {time.monotonic() - began:.0f} s);"
          f" {len(failures)} did not")
    if times:
        print(f"start, use and stop: median {statistics.median(times):.2f} s, slowest {max(times):.2f} s")
    for problem in failures[:5]:
        print("  " + problem.replace("\n", "\n  "))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
