"""Outcomes: what each check did, how a failure counts at this level, and each rule's verdict.

Invariants:

1. A failure counts one of three ways, decided in one place (`standing`): XFAIL
   when --expect-failures lists the rule, WARN when a hardening rule fails at
   level core, FAIL otherwise. A failed precondition (another rule's fault)
   takes the same ladder, with ERROR in place of FAIL.
2. A rule FAILs if any of its checks failed, is ERROR if a check could not be
   made because a precondition of another rule failed, SKIPs if every check
   skipped, is PARTial if some did (a check "not applicable" to this target
   leaves nothing unchecked), and PASSes otherwise.
3. The run fails (exit 1) when a rule is FAIL or ERROR, or a problem was found:
   a stale or unknown --expect-failures entry, or, with --require-complete, a
   rule that counts left unchecked.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any, Iterable

from conformance import diagnoses, rules

# A check that does not apply to this target (what it checks cannot happen
# here) skips with a reason starting so; nothing is left unchecked by it.
NOT_APPLICABLE = "not applicable"


@dataclass
class CheckRecord:
    """What one check did: outcome before conversion, and why."""

    name: str
    rule: str
    outcome: str = "pass"  # pass / fail / precondition / skip, as the target behaved
    message: str = ""
    shown_as: str = "pass"  # pass / fail / error / skip / warn / xfail, as reported
    blamed: str = ""  # the rule a failed precondition belongs to
    causes: list[diagnoses.Diagnosis] = field(default_factory=list)
    # What the contract asked for and what came back, when the check said them apart.
    expected: str = ""
    got: str = ""
    # The check's HTTP exchanges, tokens shortened: kept for -v and the reports.
    transcript: str = ""


def standing(rule_id: str, level: str, expected: dict[str, str]) -> str:
    """How a failure of this rule counts here: "xfail" (expected), "warn" (hardening at core) or "fail"."""
    if rule_id in expected:
        return "xfail"
    if rules.level_of(rule_id) == rules.HARDENING and level == rules.CORE:
        return "warn"
    return "fail"


def counts_as_failure(rule_id: str, level: str, expected: dict[str, str]) -> bool:
    """Whether a failing check of this rule fails the run."""
    return standing(rule_id, level, expected) == "fail"


def rule_outcome(rule_id: str, tests: list[CheckRecord], level: str, expected: dict[str, str]) -> tuple[str, str]:
    """Aggregate a rule's checks into (outcome, message)."""
    failed = [test for test in tests if test.outcome == "fail"]
    # Nothing of the rule failed, but not all of it could be checked.
    blocked = [test for test in tests if test.outcome == "precondition"]
    if failed or blocked:
        first = (failed or blocked)[0]
        message = f"{first.name}: {first.message}"
        verdict = standing(rule_id, level, expected)
        if verdict == "xfail":
            # The failure first: it is what the reader must check still
            # matches the reason given, and a long reason must not hide it.
            return "xfail", f"{message} [expected: {expected[rule_id]}]"
        if verdict == "fail" and not failed:
            return "error", message
        return verdict, message
    ran = [test for test in tests if test.outcome != "skip"]
    if not ran:
        reasons = sorted({test.message for test in tests if test.message})
        return "skip", "; ".join(reasons)
    unchecked = [test for test in tests if test.outcome == "skip" and not test.message.startswith(NOT_APPLICABLE)]
    if unchecked:
        parts = [f"{test.name} skipped: {test.message}" for test in unchecked]
        return "partial", f"partly checked ({len(ran)} of {len(tests)} checks ran): " + "; ".join(parts)
    return "pass", ""


@dataclass
class Verdicts:
    """Each rule's result (the JSON report's "rules"), and what the run must say or fail on besides."""

    results: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.problems) or any(result["outcome"] in ("fail", "error") for result in self.results)


def judge(
    records: Iterable[CheckRecord],
    level: str,
    expected: dict[str, str],
    selected: list[str],
    require_complete: bool,
) -> Verdicts:
    """Give each rule that ran its verdict, in the contract's order, and collect the problems and notes."""
    by_rule: dict[str, list[CheckRecord]] = {}
    for record in records:
        by_rule.setdefault(record.rule, []).append(record)
    verdicts = Verdicts()
    for rule_id in rules.RULES:
        if rule_id not in by_rule:
            continue
        outcome, message = rule_outcome(rule_id, by_rule[rule_id], level, expected)
        result = {
            "id": rule_id,
            "level": rules.level_of(rule_id),
            "title": rules.RULES[rule_id].title,
            "outcome": outcome,
            "message": message,
            "tests": [test_result(test) for test in by_rule[rule_id]],
        }
        _add_blame_and_causes(result, by_rule[rule_id])
        verdicts.results.append(result)
        counts = counts_as_failure(rule_id, level, expected)
        if rule_id in expected and outcome == "pass":
            verdicts.problems.append(
                f"--expect-failures lists {rule_id} ({expected[rule_id]}) but it passed: remove the stale entry"
            )
        elif rule_id in expected and outcome in ("skip", "partial"):
            verdicts.notes.append(
                f"--expect-failures lists {rule_id}, but it was not {'fully ' if outcome == 'partial' else ''}"
                f"checked ({message}): nothing is known about that gap"
            )
        elif require_complete and outcome in ("skip", "partial") and counts:
            how = "not checked" if outcome == "skip" else "only partly checked"
            verdicts.problems.append(f"--require-complete: {rule_id} was {how}: {message}")
    incomplete = [
        result["id"]
        for result in verdicts.results
        if result["outcome"] in ("skip", "partial") and counts_as_failure(result["id"], level, expected)
    ]
    if incomplete and not require_complete:
        verdicts.notes.append(
            f"not fully checked: {', '.join(incomplete)} (see above); --require-complete makes that fail the run"
        )
    if require_complete:
        for rule_id in selected:
            if rule_id not in by_rule and counts_as_failure(rule_id, level, expected):
                verdicts.problems.append(f"--require-complete: {rule_id} was not checked: no check of it ran")
    return verdicts


def test_result(test: CheckRecord) -> dict[str, Any]:
    """One check's entry in a rule's result; a failure carries what was expected, what came, and the exchanges."""
    result: dict[str, Any] = {"name": test.name, "outcome": test.shown_as, "message": test.message}
    if test.blamed:
        result["precondition"] = test.blamed
    if test.outcome == "fail":
        if test.expected:
            result["expected"], result["got"] = test.expected, test.got
        if test.causes:
            result["likely_causes"] = [{"id": cause.id, "text": cause.text} for cause in test.causes]
    if test.transcript and test.outcome in ("fail", "precondition"):
        result["transcript"] = test.transcript
    return result


def _add_blame_and_causes(result: dict[str, Any], tests: list[CheckRecord]) -> None:
    """Name, in a rule's result, the rule blamed for a failed precondition, and the likely causes of its failures."""
    if result["outcome"] in ("error", "warn", "xfail"):
        blamed = next((test.blamed for test in tests if test.outcome == "precondition"), "")
        if blamed and not any(test.outcome == "fail" for test in tests):
            result["precondition"] = blamed
    causes: list[diagnoses.Diagnosis] = []
    for test in tests:
        if test.outcome == "fail":
            causes += [cause for cause in test.causes if cause not in causes]
    if causes:
        result["likely_causes"] = [{"id": cause.id, "text": cause.text} for cause in causes]


def summary(results: list[dict[str, Any]]) -> dict[str, int]:
    """Count the rules by outcome, under the JSON report's names."""
    counts = collections.Counter(result["outcome"] for result in results)
    return {
        "passed": counts["pass"],
        "failed": counts["fail"],
        "errors": counts["error"],
        "partial": counts["partial"],
        "warned": counts["warn"],
        "skipped": counts["skip"],
        "xfailed": counts["xfail"],
    }


def summary_line(summary: dict[str, int]) -> str:
    """Return "21 passed, 1 failed, 2 partly checked, 3 skipped"; counts beyond the first two only when non-zero."""
    parts = [f"{summary['passed']} passed", f"{summary['failed']} failed"]
    for key, word in (
        ("errors", "not checked (precondition failed)"),
        ("partial", "partly checked"),
        ("warned", "warned"),
        ("skipped", "skipped"),
        ("xfailed", "expected failures"),
    ):
        if summary.get(key):
            parts.append(f"{summary[key]} {word}")
    return ", ".join(parts)
