#!/usr/bin/env python3
"""GET /me of this tree against an older commit's, in one interleaved run: what a change costs the hot path.

    .venv/bin/python bench/before_after.py                 # against 44f2553, before the store seam and extensions
    .venv/bin/python bench/before_after.py --rev REV --rounds 5 --duration 8

The older commit is checked out into a temporary git worktree and served by
its own run_server.py (same interpreter, same venv: only the app's code
differs), on its own temporary database. Both servers run the production
defaults with the access log on. Rounds alternate (before, after, before,
after...) so that noise on the shared machine falls on both; each figure is
the median of its rounds, and the ratio is after/before. Also measured on
both: GET /healthz (the stack's ceiling), so a difference in /me that the
ceiling shows too is the machine, not the change.

Why this figure: why a session ended (EXT-REASON) is read only on the 401
path, so an authenticated GET /me should cost the same before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile

from harness import HOST, ROOT, Load, Server, find_wrk, login, log


class ServerAt(Server):
    """The reference server as of another checkout of the repository."""

    def __init__(self, name: str, root: str, db: str, workdir: str) -> None:
        super().__init__(name, db, workdir, workers=os.cpu_count() or 1, threads=2, access_log=True)
        self.root = root

    def launch(self) -> tuple[list[str], dict[str, str], str, int | None]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONS_")}
        env["PYTHONPATH"] = self.root  # this checkout's impl, not the installed one
        run = os.path.join(self.root, "run_server.py")
        return [sys.executable, run, "--host", HOST, "--port", "0", "--db", self.db, *self.flags], env, self.root, None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="44f2553", help="the older commit (default: before the store seam)")
    parser.add_argument("--after", default=None, help="a newer commit to compare instead of this tree")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=8, help="seconds per wrk run")
    args = parser.parse_args()
    wrk = find_wrk()
    with tempfile.TemporaryDirectory(prefix="bench-before-after-") as work:
        old_root = os.path.join(work, "before")
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", "-q", old_root, args.rev], check=True)
        new_root = ROOT
        if args.after:
            new_root = os.path.join(work, "after")
            subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", "-q", new_root, args.after], check=True)
        servers = {
            "before": ServerAt("before", old_root, os.path.join(work, "before.db"), work),
            "after": ServerAt("after", new_root, os.path.join(work, "after.db"), work),
        }
        try:
            for server in servers.values():
                server.start()
            tokens = {name: login(s.url, "bench@bench.example") for name, s in servers.items()}
            load = Load(wrk, args.duration, 16, 2, list(servers.values()))
            figures: dict[tuple[str, str], list[dict]] = {}
            for round_ in range(args.rounds):
                for name, server in servers.items():
                    for path, script in (("/healthz", []), ("/me", ["header", "Cookie", f"session={tokens[name]}"])):
                        result = load.run(server.url + path, script)
                        figures.setdefault((name, path), []).append(result)
                log(f"round {round_ + 1}/{args.rounds} done")
        finally:
            for server in servers.values():
                server.stop()
            for root in {old_root, new_root} - {ROOT}:
                subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", root], check=False)

    def median(name: str, path: str, key: str) -> float:
        return statistics.median(r[key] for r in figures[(name, path)])

    print(f"\nGET /me before ({args.rev}) and after ({args.after or 'this tree'}), {args.rounds} interleaved rounds of "
          f"{args.duration:g} s, wrk -t2 -c16, medians")
    print(f"| server | path | req/s | p50 ms | p99 ms |\n|---|---|---:|---:|---:|")
    for (name, path) in figures:
        print(f"| {name} | {path} | {median(name, path, 'rps'):,.0f} | {median(name, path, 'p50_ms'):.2f} "
              f"| {median(name, path, 'p99_ms'):.2f} |")
    for path in ("/healthz", "/me"):
        print(f"after/before {path}: {median('after', path, 'rps') / median('before', path, 'rps'):.2f}x")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
