"""Run the conformance suite at every level against each implementation in the repository; write the table to the suite's page.

    .venv/bin/python -m tools.compatibility_table            # runs everything, rewrites conformance/README.md's table
    .venv/bin/python -m tools.compatibility_table --dry-run  # prints the table instead

Each implementation is one entry of IMPLEMENTATIONS: a name, and how to start
it, which yields the suite options that name it as the target and declare
its settings. A new one (the reference on another store backend) is one more
entry, usually `serve_command([...], declarations)` around a command that
prints `listening on http://HOST:PORT` first, as run_server.py and
examples/node-server do.

For each implementation the suite runs once per level (core, hardening,
extensions), the three runs at once (each makes its own accounts); a rule's
cell is its outcome in the run at its own level (a CORE rule at core, a HARD
rule at hardening, an EXT rule at extensions), where its failure counts. No
expectations file is used: the table shows what fails, not what is forgiven.
The table goes between the markers BEGIN and END below in conformance/README.md,
the suite's package page.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ContextManager

from conformance.server_process import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "conformance" / "README.md"
BEGIN = "<!-- compatibility-table:begin (tools/compatibility_table.py writes this part) -->"
END = "<!-- compatibility-table:end -->"
LEVELS = ("core", "hardening", "extensions")
START_TIMEOUT = 30.0
RUN_TIMEOUT = 600.0
# Short timeouts the reference is started with (by the suite) and declared to the
# suite, so HARD-IDLE and HARD-ABSOLUTE are checked, not skipped.
REFERENCE_DECLARATIONS = ["--idle-timeout", "4", "--absolute-timeout", "10"]
# The Node server refreshes lastActiveAt as often as it is told; it has no timeouts.
NODE_DECLARATIONS = ["--touch-interval", "1"]

Start = Callable[[Path], ContextManager[list[str]]]


@dataclass(frozen=True)
class Implementation:
    """One column of the table: a name, a one-line description, and how to start it for the suite."""

    name: str
    description: str
    start: Start


@contextlib.contextmanager
def _start_reference(workdir: Path) -> Iterator[list[str]]:
    # The suite starts (and stops) the reference itself, once per run.
    yield ["--start-reference", *REFERENCE_DECLARATIONS]


def serve_command(argv: Sequence[str], declarations: Sequence[str] = ()) -> Start:
    """Return a start function that runs `argv` until the runs are over.

    The command must print `listening on http://HOST:PORT` as its first stdout
    line; the suite is then given that URL and `declarations` (its settings).
    """

    @contextlib.contextmanager
    def start(workdir: Path) -> Iterator[list[str]]:
        server = ServerProcess(argv, cwd=ROOT, stderr=workdir / "server-stderr.log", start_timeout=START_TIMEOUT)
        with server:
            yield ["--base-url", server.url, *declarations]

    return start


@contextlib.contextmanager
def _start_reference_on_postgres(workdir: Path) -> Iterator[list[str]]:
    # A throwaway PostgreSQL server from Debian's binaries (as the tests start
    # it), one fresh database, and run_server.py on it with the same settings
    # the suite gives the SQLite reference it starts itself.
    sys.path.insert(0, str(ROOT))
    from tests import postgres

    server = postgres.start()
    try:
        database = server.new_database()
        argv = [sys.executable, "run_server.py", "--port", "0", "--db", database, "--workers", "1",
                "--scrypt-n", "1024", "--no-access-log", "--touch-interval", "1", *REFERENCE_DECLARATIONS]
        with serve_command(argv, ["--touch-interval", "1", *REFERENCE_DECLARATIONS])(workdir) as args:
            yield args
    finally:
        server.close()


IMPLEMENTATIONS: list[Implementation] = [
    Implementation(
        "reference (SQLite)",
        "`impl/`, started by the suite (`--start-reference`) with a 4 s idle and a 10 s absolute timeout",
        _start_reference,
    ),
    Implementation(
        "reference (PostgreSQL)",
        "`impl/` with `--db postgresql://…` on a throwaway PostgreSQL 15, one worker, the same timeouts",
        _start_reference_on_postgres,
    ),
    Implementation(
        "examples/node-server",
        "Node.js, in memory, `--touch-interval 1`, no timeouts to declare",
        serve_command(
            ["node", "examples/node-server/server.js", "--port", "0", "--touch-interval", "1", "--scrypt-cost", "1024"],
            NODE_DECLARATIONS,
        ),
    ),
]


# --- running -----------------------------------------------------------------------


@dataclass
class LevelRun:
    """One run of the suite: its exit status, seconds, and each rule's outcome and message."""

    level: str
    exit_code: int
    seconds: float
    rules: dict[str, dict[str, Any]]
    output: str = ""


def run_level(target_args: list[str], level: str, workdir: Path) -> LevelRun:
    """Run `python -m conformance` at one level; return what its JSON report says."""
    report = workdir / f"{level}.json"
    env = {key: value for key, value in os.environ.items() if key != "CONFORMANCE_BASE_URL"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", *target_args, "--level", level, "--json-report", str(report)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT,
    )  # fmt: skip
    seconds = time.monotonic() - started
    rules: dict[str, dict[str, Any]] = {}
    if report.exists():
        rules = {rule["id"]: rule for rule in json.loads(report.read_text(encoding="utf-8"))["rules"]}
    return LevelRun(level, proc.returncode, seconds, rules, (proc.stdout + proc.stderr)[-3000:])


def run_implementation(implementation: Implementation, workdir: Path) -> dict[str, LevelRun]:
    """Start the implementation, run the suite at every level at once, stop it; return the runs by level."""
    workdir.mkdir(parents=True, exist_ok=True)
    with implementation.start(workdir) as target_args:
        with ThreadPoolExecutor(max_workers=len(LEVELS)) as pool:
            runs = list(pool.map(lambda level: run_level(target_args, level, workdir), LEVELS))
    return {run.level: run for run in runs}


# --- the table ----------------------------------------------------------------------------

CELLS = {
    "pass": "pass",
    "fail": "**FAIL**",
    "partial": "partly checked",
    "skip": "not checked",
    "warn": "**FAIL**",
    "xfail": "**FAIL**",
}


def level_of(rule_id: str) -> str:
    return {"CORE": "core", "HARD": "hardening", "EXT": "extensions"}[rule_id.split("-", 1)[0]]


def cell(runs: dict[str, LevelRun], rule_id: str) -> str:
    """Return a rule's cell: its outcome in the run at its own level, or "—" when no check of it ran."""
    result = runs[level_of(rule_id)].rules.get(rule_id)
    return CELLS[result["outcome"]] if result else "—"


def render_table(
    rule_ids: Sequence[str], results: dict[str, dict[str, LevelRun]], descriptions: dict[str, str], when: str
) -> str:
    """Return the Markdown table: one row per rule, one column per implementation, then exit codes and times."""
    names = list(results)
    lines = [
        "| rule | level | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for rule_id in rule_ids:
        cells = [cell(results[name], rule_id) for name in names]
        lines.append(f"| {rule_id} | {level_of(rule_id)} | " + " | ".join(cells) + " |")
    for level in LEVELS:
        exits = [f"exit {results[name][level].exit_code}, {results[name][level].seconds:.0f} s" for name in names]
        lines.append(f"| *run at `--level {level}`* | | " + " | ".join(exits) + " |")
    lines.append("")
    lines += [f"- **{name}**: {descriptions.get(name, '')}" for name in names]
    lines.append("")
    lines.append(
        f"Generated {when} by `.venv/bin/python -m tools.compatibility_table`. A cell is the rule's outcome "
        "in the run at its own level; `—`: no check of the rule ran (an extension the suite has no checks "
        "for yet, or that the run could not reach). Times are wall-clock, the three levels of one "
        "implementation run at once on a shared two-core machine."
    )
    return "\n".join(lines)


def replace_between_markers(text: str, table: str) -> str:
    """Return `text` with what lies between BEGIN and END replaced by `table`; refuse if the markers are missing."""
    pattern = re.compile(re.escape(BEGIN) + r"\n.*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"the text has no {BEGIN} … {END} markers")
    return pattern.sub(lambda _: f"{BEGIN}\n{table}\n{END}", text, count=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.compatibility_table", description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the table instead of writing conformance/README.md")
    parser.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="run only this implementation (repeatable)"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from conformance import rules

    chosen = [impl for impl in IMPLEMENTATIONS if not args.only or impl.name in args.only]
    results: dict[str, dict[str, LevelRun]] = {}
    with tempfile.TemporaryDirectory(prefix="compatibility-") as tmp:
        for number, implementation in enumerate(chosen):
            print(f"{implementation.name}: running the suite at {', '.join(LEVELS)} …", file=sys.stderr, flush=True)
            results[implementation.name] = run_implementation(implementation, Path(tmp) / str(number))
            for run in results[implementation.name].values():
                print(f"  {run.level}: exit {run.exit_code} in {run.seconds:.0f} s", file=sys.stderr, flush=True)
                if run.exit_code == 2 or not run.rules:
                    print(run.output, file=sys.stderr)
    when = time.strftime("%Y-%m-%d", time.gmtime())
    descriptions = {impl.name: impl.description for impl in chosen}
    table = render_table(list(rules.RULES), results, descriptions, when)
    if args.dry_run:
        print(table)
        return 0
    PAGE.write_text(replace_between_markers(PAGE.read_text(encoding="utf-8"), table), encoding="utf-8")
    print(f"wrote the table into {PAGE.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
