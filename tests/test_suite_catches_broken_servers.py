"""The conformance suite catches broken servers: each variant of tests/broken_servers.py fails exactly its rules.

Every variant is served over real HTTP and the suite runs on it as a user
runs it (`python -m conformance --base-url URL --level hardening --rule 'CORE-*'
--rule RULE …`). One session fixture starts all the runs, WORKERS at a time,
since most of a run is the suite sleeping through refresh intervals and
timeouts; each test then reads one run's JSON report.

Two measures keep the whole matrix to about a minute and a half on two
cores (170 s without them):
- Each variant's threaded server runs in a process of its own, forked from a
  forkserver that has imported the server code once. In this process they
  would share one GIL, and the suites would spend their time queueing for it.
- The suite runs compile into one private bytecode cache, warmed once. The
  machine sets PYTHONDONTWRITEBYTECODE, under which every run would compile the
  suite and rewrite its asserts again (0.6 s of CPU each, 40-odd times).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conformance import diagnoses, rules

from .broken_servers import CONTROL, CONTROL_EXTENSIONS, EXTENSION_CONTROL_RULES, VARIANTS, Variant, serve_variant
from .test_suite_layout import RULES_AWAITING_TESTS, rule_params

ROOT = Path(__file__).resolve().parent.parent
LIST_FILE = Path(__file__).resolve().parent / "BROKEN_SERVERS.md"
CORE_RULES = [rule_id for rule_id in rules.RULES if rules.level_of(rule_id) == rules.CORE]
# Suite runs at once. A run is a chain of sleeps, client work and server work,
# so it takes many to keep two cores busy. Measured on a quiet 2-core machine
# (44 variants and the control, about 155 s of CPU in all): 8 workers 115 s,
# 12 workers 91 s, 16 workers 86 s. Past 12 the runs mostly queue for CPU,
# which only stretches the timing checks (one-second refreshes, 4 s idle).
WORKERS = 12
RUN_TIMEOUT = 300
SERVER_START_TIMEOUT = 30

# Variants the suite is known not to catch, with what it misses: shown as
# xfail (strict, so a suite that learns to catch one turns the run red).
SUITE_GAPS: dict[str, str] = {
    # Empty: the three gaps these variants first found were closed in the
    # suite (see "Gaps found and closed" in BROKEN_SERVERS.md).
}

# Variants whose run also selects a rule they do not break, to show that a
# check of that rule blames the broken rule its precondition belongs to: the
# rule shows as ERROR naming the broken rule, never as FAIL.
BLAMED_PRECONDITIONS: dict[str, dict[str, str]] = {
    "logout-keeps-session": {"HARD-CSRF": "CORE-LOGOUT"},
    "revoke-only-unlists": {"HARD-CSRF": "CORE-REVOKE"},
    "revoke-all-keeps-newest-other": {"HARD-CSRF": "CORE-REVOKE-ALL"},
}

# The "Likely cause" diagnoses (conformance/diagnoses.py) each run must show,
# and no others: every variant and the control not listed shows none.
LIKELY_CAUSES: dict[str, set[str]] = {
    "revoke-only-unlists": {"second-copy"},
    "revoke-all-clears-list-only": {"second-copy"},
    "auth-cache-survives-revoke": {"second-copy"},
    "cache-after-use-survives-revoke": {"second-copy"},
    "cache-after-use-survives-revoke-all": {"second-copy"},
    "cache-after-use-survives-logout": {"second-copy"},
    "list-current-by-device-name": {"current-by-client"},
    "list-every-users-sessions": {"foreign-sessions"},
    "revoke-unknown-200": {"revoke-unknown-200"},
    "revoke-all-ends-current": {"revoke-all-ends-current"},
    "list-id-is-token": {"list-id-is-cookie"},
    "revoke-all-keeps-newest-other": {"revoke-all-misses-some"},
    "revoke-current-allowed": {"revoke-current-allowed"},
    "revoke-idor": {"revoke-ignores-owner"},
    "revoke-foreign-403": {"revoke-foreign-tells"},
    "me-answers-last-login": {"me-wrong-user"},
    "me-guest-without-cookie": {"me-without-session"},
    "device-name-constant": {"device-names-alike"},
}


@dataclass
class Run:
    """One suite run on one variant: the exit code, the per-rule outcomes and the output's tail."""

    variant: Variant
    exit_code: int
    outcomes: dict[str, tuple[str, str]]
    output: str
    seconds: float
    # Per rule: the rule blamed for a failed precondition, and the likely causes shown.
    blamed: dict[str, str] = field(default_factory=dict)
    causes: dict[str, set[str]] = field(default_factory=dict)

    def explain(self) -> str:
        lines = [f"suite on {self.variant.id} exited {self.exit_code} after {self.seconds:.0f} s"]
        for rule_id, (outcome, message) in self.outcomes.items():
            lines.append(f"  {outcome.upper():<5} {rule_id}  {message[:300]}")
            for cause in sorted(self.causes.get(rule_id, ())):
                lines.append(f"        likely cause: {cause}")
        lines.append("--- suite output (tail) ---")
        lines.append(self.output[-3000:])
        return "\n".join(lines)


def suite_args(variant: Variant) -> list[str]:
    """Return the suite's options for a variant: its rules (all of them for the control) and its settings."""
    selection = []
    if variant.breaks:
        selection = ["--rule", "CORE-*"]
        for rule_id in [*variant.breaks, *BLAMED_PRECONDITIONS.get(variant.id, {})]:
            if rules.level_of(rule_id) != rules.CORE:
                selection += ["--rule", rule_id]
    if variant is CONTROL_EXTENSIONS:
        selection = [arg for rule in EXTENSION_CONTROL_RULES for arg in ("--rule", rule)]
        return ["--level", rules.EXTENSIONS, *selection, *variant.declarations()]
    levels = {rules.level_of(rule_id) for rule_id in variant.breaks}
    level = rules.EXTENSIONS if rules.EXTENSIONS in levels else rules.HARDENING
    return ["--level", level, *selection, *variant.declarations()]


def suite_env(pycache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("CONFORMANCE_BASE_URL", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def run_suite(context: Any, variant: Variant, workdir: Path, env: dict[str, str]) -> Run:
    """Serve the variant on a fresh database in a child process, run the suite on it, return what it said."""
    workdir.mkdir(parents=True, exist_ok=True)
    report = workdir / "report.json"
    started = time.monotonic()
    ours, theirs = context.Pipe()
    server = context.Process(
        target=serve_variant, args=(variant.id, str(workdir / "sessions.db"), theirs), name=f"serve {variant.id}"
    )
    try:
        server.start()
        theirs.close()
        if not ours.poll(SERVER_START_TIMEOUT):
            return Run(variant, -1, {}, f"the server did not start within {SERVER_START_TIMEOUT} s", 0.0)
        command = [
            sys.executable, "-m", "conformance",
            "--base-url", ours.recv(),
            "--json-report", str(report),
            *suite_args(variant),
        ]  # fmt: skip
        try:
            proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
            exit_code, output = proc.returncode, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as exc:
            exit_code, output = -1, f"timed out after {RUN_TIMEOUT} s: {exc}"
    finally:
        ours.close()  # the server's signal to stop
        server.join(timeout=10)
        if server.is_alive():
            server.kill()
            server.join()
        server.close()
    outcomes: dict[str, tuple[str, str]] = {}
    blamed: dict[str, str] = {}
    causes: dict[str, set[str]] = {}
    if report.exists():
        for result in json.loads(report.read_text(encoding="utf-8"))["rules"]:
            outcomes[result["id"]] = (result["outcome"], result["message"])
            if "precondition" in result:
                blamed[result["id"]] = result["precondition"]
            if result.get("likely_causes"):
                causes[result["id"]] = {cause["id"] for cause in result["likely_causes"]}
    return Run(variant, exit_code, outcomes, output, time.monotonic() - started, blamed, causes)


def _longest_first(variant: Variant) -> float:
    # The control runs every rule; the timeout variants wait their timeouts out;
    # no-body-limit waits 10 s for a chunked body wsgiref cannot end.
    timeouts = sum(variant.settings.get(name, 0) for name in ("idle_timeout", "absolute_timeout"))
    return (0 if variant.breaks else 100) + (10 if variant.settings else 0) + timeouts


@pytest.fixture(scope="session")
def runs() -> dict[str, Run]:
    """Run the suite on the control and on every variant, WORKERS at a time; return the runs by variant id."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([serve_variant.__module__])
    everything = sorted([CONTROL, CONTROL_EXTENSIONS, *VARIANTS], key=_longest_first, reverse=True)
    with tempfile.TemporaryDirectory(prefix="broken-servers-") as tmp:
        env = suite_env(Path(tmp) / "pycache")
        # Compile the suite (and rewrite its asserts) into the cache once, before the runs race to.
        subprocess.run(
            [sys.executable, "-m", "conformance", "--", "--collect-only", "-q"],
            cwd=ROOT, env=env, capture_output=True, timeout=RUN_TIMEOUT, check=True,
        )  # fmt: skip
        with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="suite-run") as pool:
            done = list(pool.map(lambda v: run_suite(context, v, Path(tmp) / v.id, env), everything))
    return {run.variant.id: run for run in done}


def test_reference_under_the_same_harness_passes_every_rule(runs):
    run = runs[CONTROL.id]
    # The control runs at --level hardening; rules whose checks are still being
    # written have no result yet (tests/test_suite_layout.py keeps that list honest).
    checked = [rule_id for rule_id in rules.select([], rules.HARDENING) if rule_id not in RULES_AWAITING_TESTS]
    problems = [rule_id for rule_id in checked if run.outcomes.get(rule_id, ("missing",))[0] != "pass"]
    assert not problems and run.exit_code == 0, (
        f"the unbroken reference, served as the variants are, does not pass {problems}:\n{run.explain()}"
    )


# The extensions' control declares no timeouts (see EXTENSION_CONTROL_RULES), so
# EXT-REASON's "expired" check cannot run there and the rule is partly checked;
# tests/test_reference_conformance.py checks it with timeouts declared.
PARTLY_CHECKED_BY_DESIGN = {"EXT-REASON": '"expired" reason needs a timeout'}


def test_reference_under_the_same_harness_passes_the_extensions(runs):
    run = runs[CONTROL_EXTENSIONS.id]
    checked = rules.select(list(EXTENSION_CONTROL_RULES), rules.EXTENSIONS)

    def fine(rule_id: str) -> bool:
        outcome, message = run.outcomes.get(rule_id, ("missing", ""))
        partly = rule_id in PARTLY_CHECKED_BY_DESIGN and PARTLY_CHECKED_BY_DESIGN[rule_id] in message
        return outcome == "pass" or (outcome == "partial" and partly)

    problems = [rule_id for rule_id in checked if not fine(rule_id)]
    assert not problems and run.exit_code == 0 and set(run.outcomes) == set(checked), (
        f"the unbroken reference, served as the EXT variants are, does not pass {problems}:\n{run.explain()}"
    )


def _variant_params() -> list[Any]:
    params = []
    for v in VARIANTS:
        gap = SUITE_GAPS.get(v.id)
        marks = [pytest.mark.xfail(strict=True, reason=f"suite gap: {gap}")] if gap else []
        params.append(pytest.param(v, id=v.id, marks=marks))
    return params


@pytest.mark.parametrize("variant", _variant_params())
def test_suite_fails_exactly_the_broken_rules(runs, variant):
    run = runs[variant.id]
    expected = set(CORE_RULES) | set(variant.breaks) | set(BLAMED_PRECONDITIONS.get(variant.id, {}))
    assert set(run.outcomes) == expected, f"the run reported rules {sorted(run.outcomes)}:\n{run.explain()}"
    missed = [rule_id for rule_id in variant.breaks if run.outcomes[rule_id][0] != "fail"]
    assert not missed, f"the suite let {variant.id} ({variant.bug}) pass {missed}:\n{run.explain()}"
    collateral = [
        rule_id for rule_id in CORE_RULES if rule_id not in variant.breaks and run.outcomes[rule_id][0] != "pass"
    ]
    assert not collateral, (
        f"{variant.id} should break only {list(variant.breaks)}, but these CORE rules did not pass: "
        f"{collateral}:\n{run.explain()}"
    )
    assert run.exit_code == 1, f"a failed rule must make the suite exit 1:\n{run.explain()}"


@pytest.mark.parametrize("variant_id, blames", BLAMED_PRECONDITIONS.items(), ids=BLAMED_PRECONDITIONS.keys())
def test_precondition_of_another_rule_is_blamed_on_that_rule(runs, variant_id, blames):
    run = runs[variant_id]
    for rule_id, blamed in blames.items():
        outcome, message = run.outcomes.get(rule_id, ("missing", ""))
        assert (outcome, run.blamed.get(rule_id)) == ("error", blamed), (
            f"{variant_id} breaks {blamed}, which {rule_id}'s checks need: {rule_id} must show as ERROR "
            f"blaming {blamed}, not FAIL:\n{run.explain()}"
        )
        assert f"precondition failed ({blamed})" in message, run.explain()
        assert run.outcomes[blamed][0] == "fail", run.explain()


def _every_run() -> list[Any]:
    return [pytest.param(v.id, id=v.id) for v in [CONTROL, *VARIANTS]]


@pytest.mark.parametrize("variant_id", _every_run())
def test_likely_causes_show_only_on_their_mistake(runs, variant_id):
    run = runs[variant_id]
    shown = set().union(*run.causes.values()) if run.causes else set()
    assert shown == LIKELY_CAUSES.get(variant_id, set()), (
        f"{variant_id} showed likely causes {sorted(shown)}, expected {sorted(LIKELY_CAUSES.get(variant_id, set()))}"
        f":\n{run.explain()}"
    )
    failed = {rule_id for rule_id, (outcome, _) in run.outcomes.items() if outcome == "fail"}
    assert set(run.causes) <= failed, f"a likely cause shown under a rule that did not fail:\n{run.explain()}"


# --- the list and the coverage ------------------------------------------------------------


def _listed_variants() -> dict[str, tuple[list[str], str]]:
    """Return {variant id: ([rule IDs], bug)} from the table rows of BROKEN_SERVERS.md."""
    listed = {}
    for line in LIST_FILE.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"\|\s*`([a-z0-9-]+)`\s*\|([^|]*)\|(.*)\|\s*", line)
        if match:
            rule_ids = re.findall(r"(?:CORE|HARD|EXT)-[A-Z0-9-]+", match.group(2))
            listed[match.group(1)] = (rule_ids, match.group(3).strip())
    return listed


@pytest.mark.parametrize("rule_id", rule_params())
def test_every_rule_is_broken_by_a_variant_the_suite_catches(rule_id):
    caught = {rule_id for v in VARIANTS if v.id not in SUITE_GAPS for rule_id in v.breaks}
    assert rule_id in caught, f"no variant in tests/broken_servers.py breaks {rule_id}"


def test_every_diagnosis_has_a_broken_server_that_shows_it():
    assert {cause for causes in LIKELY_CAUSES.values() for cause in causes} == set(diagnoses.BY_ID)
    assert set(LIKELY_CAUSES) | set(BLAMED_PRECONDITIONS) <= {v.id for v in VARIANTS}


def test_variants_break_only_known_rules_and_gaps_name_variants():
    assert all(rule_id in rules.RULES for v in VARIANTS for rule_id in v.breaks)
    assert all(v.breaks for v in VARIANTS)
    assert set(SUITE_GAPS) <= {v.id for v in VARIANTS}


def test_broken_servers_md_lists_every_variant_its_rules_and_bug():
    assert _listed_variants() == {v.id: (list(v.breaks), v.bug) for v in VARIANTS}


def test_broken_servers_md_explains_every_suite_gap():
    misses = LIST_FILE.read_text(encoding="utf-8").partition("## What the suite misses")[2]
    assert [gap for gap in SUITE_GAPS if f"`{gap}`" not in misses] == []
