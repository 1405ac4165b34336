"""Run `--explore-only` (every fixed check deselected) on each broken server of tests/broken_servers.py.

Not a test: a sweep that takes minutes (python -m tests.explore_sweep [SECONDS] [WORKERS] [VARIANT…]); without
variants named, it runs every variant but those listed in OUT_OF_REACH, and lists those with the reason.
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

from .broken_servers import CONTROL, CONTROL_EXTENSIONS, VARIANTS, Variant, serve_variant
from .explored_servers import EXPLORED, Explored, serve_explored

ROOT = Path(__file__).resolve().parent.parent

# Variants whose bug no explored action can reach, with the reason: the sweep lists them and runs them only
# when named (tests/EXPLORATION.md keeps the same list).
OUT_OF_REACH = {
    "idle-timeout-ignored": "exploration declares no timeouts and never waits one out (HARD-IDLE)",
    "absolute-timeout-ignored": "exploration declares no timeouts and never waits one out (HARD-ABSOLUTE)",
    "cookie-not-httponly": "no cookie attribute is compared (HARD-COOKIE)",
    "cookie-samesite-none": "no cookie attribute is compared (HARD-COOKIE)",
    "token-16-hex": "the token's shape is not checked (HARD-TOKEN)",
    "token-time-prefixed": "the token's shape is not checked (HARD-TOKEN)",
    "token-in-login-body": "no body field beyond the contract's is looked for (HARD-TOKEN)",
    "list-id-is-token": "public ids are not compared with tokens (HARD-PUBLIC-ID)",
    "csrf-no-origin-check": "no Origin or Sec-Fetch-Site header is sent (HARD-CSRF)",
    "csrf-host-only": "no Origin or Sec-Fetch-Site header is sent (HARD-CSRF)",
    "csrf-origin-prefix-match": "no Origin or Sec-Fetch-Site header is sent (HARD-CSRF)",
    "cors-reflects-origin": "no Origin header is sent (HARD-CORS)",
    "cors-any-port-of-own-host": "no Origin header is sent (HARD-CORS)",
    "list-trusts-forwarded-for": "no X-Forwarded-For header is sent to a target that declares no trusted proxy",
    "cache-control-no-cache": "answers' headers are not compared (HARD-NO-STORE)",
    "bad-json-500": "every body sent is valid JSON (HARD-BAD-INPUT)",
    "no-body-limit": "every body sent is below 64 KiB (HARD-BAD-INPUT)",
    "garbage-cookie-500": "every cookie sent is one the server set (HARD-BAD-INPUT)",
    "throttle-keys-on-account-only": "at most two wrong passwords in a row are tried (HARD-THROTTLE)",
    "throttle-never-resets": "at most two wrong passwords in a row are tried (HARD-THROTTLE)",
    "signup-password-off-by-one": "no 8-character password is generated",
    "login-email-case-sensitive": "no login with a re-cased email is generated",
    "list-raw-user-agent": "the device name's form is not checked",
    "activity-leaks-token-hash": "extra fields of an event are not looked at",
    "reason-revoked-for-unknown-token": "no token the server never issued is sent",
    "last-active-before-created": "a new session's first look is its own request, which refreshes it before any "
                                  "list shows it (the model does compare lastActiveAt with createdAt)",
}


def level_of(variant: Variant) -> str:
    if variant is CONTROL_EXTENSIONS:
        return rules.EXTENSIONS
    levels = {rules.level_of(rule_id) for rule_id in variant.breaks}
    return rules.EXTENSIONS if rules.EXTENSIONS in levels else rules.HARDENING


def sweep_one(context: object, variant: Variant | Explored, seconds: float, work: Path) -> dict:
    folder = work / variant.id
    folder.mkdir()
    ours, theirs = context.Pipe()  # type: ignore[attr-defined]
    explored = isinstance(variant, Explored)
    serve = serve_explored if explored else serve_variant
    server = context.Process(target=serve, args=(variant.id, str(folder / "s.db"), theirs))  # type: ignore[attr-defined]
    server.start()
    theirs.close()
    started = time.monotonic()
    try:
        urls = ours.recv()
        if explored:
            # As tests/test_explore.py runs them: the level and instances each needs, the refresh interval declared.
            level, declared = variant.level, ["--touch-interval", "1"]  # type: ignore[union-attr]
            bases = [arg for url in urls for arg in ("--base-url", url)]
        else:
            level, declared, bases = level_of(variant), variant.declarations(), ["--base-url", urls]  # type: ignore[union-attr]
        command = [sys.executable, "-m", "conformance", "--explore-only", "--level", level,
                   *bases, *declared, "--explore-seconds", f"{seconds:g}",
                   "--explore-dir", str(folder), "--json-report", str(folder / "r.json")]
        subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    finally:
        ours.close()
        server.join(timeout=10)
        if server.is_alive():
            server.kill()
    report = json.loads((folder / "r.json").read_text())
    entry = next(r for r in report["rules"] if r["id"] == "EXPLORE")["explore"]
    breaks = [variant.breaks] if explored else list(variant.breaks)
    return {"id": variant.id, "breaks": breaks, "rule": entry["rule"],
            "steps": entry["history_steps"], "histories": entry["histories"],
            "seconds": round(time.monotonic() - started), "not_blamed": entry["not_blamed"],
            "divergence": entry["divergence"]}


def main(argv: list[str]) -> None:
    seconds = float(argv[0]) if argv else 45.0
    workers = int(argv[1]) if len(argv) > 1 else 2
    named = argv[2:]
    # The reference (control, control-extensions) runs only when named: a sweep of it must find nothing.
    every = [*VARIANTS, *EXPLORED, CONTROL, CONTROL_EXTENSIONS]
    chosen = [v for v in every if v.id in named or (not named and v.breaks and v.id not in OUT_OF_REACH)]
    if not named:
        for variant_id, why in OUT_OF_REACH.items():
            print(json.dumps({"verdict": "out of reach", "id": variant_id, "why": why}), flush=True)
    context = multiprocessing.get_context("forkserver")
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(workers) as pool:
        for row in pool.map(lambda v: sweep_one(context, v, seconds, Path(tmp)), chosen):
            verdict = "caught" if row["rule"] in row["breaks"] else ("WRONG RULE" if row["rule"] else "not found")
            if not row["breaks"]:
                verdict = "DIVERGENCE ON THE REFERENCE" if row["rule"] else "clean"
            print(json.dumps({"verdict": verdict, **row}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
