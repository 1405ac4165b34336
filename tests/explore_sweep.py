"""Run `--explore-only` (every fixed check deselected) on each broken server of tests/broken_servers.py.

Not a test: a sweep that takes minutes (python -m tests.explore_sweep [SECONDS] [WORKERS] [VARIANT…]).
It prints, per variant, the rule exploration blames (or that it found nothing), the rules the variant
breaks, the length of the shrunk history and the time taken; tests/EXPLORATION.md keeps the last result.
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conformance import rules

from .broken_servers import VARIANTS, Variant, serve_variant

ROOT = Path(__file__).resolve().parent.parent


def level_of(variant: Variant) -> str:
    levels = {rules.level_of(rule_id) for rule_id in variant.breaks}
    return rules.EXTENSIONS if rules.EXTENSIONS in levels else rules.HARDENING


def sweep_one(context: object, variant: Variant, seconds: float, work: Path) -> dict:
    folder = work / variant.id
    folder.mkdir()
    ours, theirs = context.Pipe()  # type: ignore[attr-defined]
    server = context.Process(target=serve_variant, args=(variant.id, str(folder / "s.db"), theirs))  # type: ignore[attr-defined]
    server.start()
    theirs.close()
    started = time.monotonic()
    try:
        url = ours.recv()
        command = [sys.executable, "-m", "conformance", "--explore-only", "--level", level_of(variant),
                   "--base-url", url, *variant.declarations(), "--explore-seconds", f"{seconds:g}",
                   "--explore-dir", str(folder), "--json-report", str(folder / "r.json")]
        subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    finally:
        ours.close()
        server.join(timeout=10)
        if server.is_alive():
            server.kill()
    report = json.loads((folder / "r.json").read_text())
    explored = next(r for r in report["rules"] if r["id"] == "EXPLORE")["explore"]
    return {"id": variant.id, "breaks": list(variant.breaks), "rule": explored["rule"],
            "steps": explored["history_steps"], "histories": explored["histories"],
            "seconds": round(time.monotonic() - started), "not_blamed": explored["not_blamed"],
            "divergence": explored["divergence"]}


def main(argv: list[str]) -> None:
    seconds = float(argv[0]) if argv else 45.0
    workers = int(argv[1]) if len(argv) > 1 else 2
    chosen = [v for v in VARIANTS if len(argv) <= 2 or v.id in argv[2:]]
    context = multiprocessing.get_context("forkserver")
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(workers) as pool:
        for row in pool.map(lambda v: sweep_one(context, v, seconds, Path(tmp)), chosen):
            verdict = "caught" if row["rule"] in row["breaks"] else ("WRONG RULE" if row["rule"] else "not found")
            print(json.dumps({"verdict": verdict, **row}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
