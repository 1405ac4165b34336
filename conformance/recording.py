"""From pytest's report of a check to the suite's record of it, and the failure report that JUnit and -v show.

A failure that does not count (WARN, or XFAIL) becomes an xfailed report, so
pytest's exit status and JUnit treat it as not-a-failure; the record keeps
the original message. A failed precondition of another rule is reported as
pytest reports a failed setup (ERROR, <error> in JUnit). A failure report
becomes plain text: pytest's assertion introspection prints the values it
compared, and a session token must not reach a CI log that way.
"""

from __future__ import annotations

import pytest

from conformance import diagnoses, preconditions, rules
from conformance.outcomes import CheckRecord, standing
from conformance.state import RunState, rule_of


def record(state: RunState, item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport) -> None:
    """Record what the check did in `state`, and turn a failure that does not count into an xfailed report."""
    rule_id = rule_of(item)
    check = state.tests.setdefault(item.nodeid, CheckRecord(item.name, rule_id))
    if report.skipped and not hasattr(report, "wasxfail"):
        check.outcome = check.shown_as = "skip"
        check.message = _skip_reason(report)
    elif report.failed:
        blamed = preconditions.blamed_rule(call.excinfo) if report.when == "call" else None
        if blamed is not None and blamed != rule_id and check.outcome != "fail":
            # Not this rule's failure: the check could not be made, blaming `blamed`.
            check.outcome, check.blamed = "precondition", blamed
            check.message = _redact(state, str(call.excinfo.value).strip().splitlines()[0][:400])
        elif check.outcome != "fail":
            check.outcome = "fail"
            message = ("setup: " if report.when == "setup" else "") + _failure_message(report)
            check.message = _redact(state, message)
            value = call.excinfo.value if call.excinfo is not None else None
            check.expected = _redact(state, str(getattr(value, "expected", "")))
            check.got = _redact(state, str(getattr(value, "got", "")))
        if not check.causes:
            check.causes = diagnoses.found()
        explain(report, check, state)
        verdict = standing(rule_id, state.level, state.expected)
        if verdict == "fail":
            check.shown_as = "error" if check.outcome == "precondition" else "fail"
            if check.outcome == "precondition":
                # Reported as pytest reports a failed setup: ERROR in its summary, <error> in JUnit.
                report.when = "setup"
        else:
            check.shown_as = verdict
            report.outcome = "skipped"
            report.wasxfail = f"{verdict.upper()} {rule_id}: {check.message}"


def _failure_message(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(longrepr)
    first = next((line for line in text.splitlines() if line.strip()), "")
    if not first:
        # A bare exception (StopIteration, KeyError()) has no message of its own.
        first = crash.message.strip() if crash is not None and crash.message.strip() else "failed"
    head, sep, rest = first.partition(": ")
    kind = head.rpartition(".")[2]
    if sep and " " not in head and (kind.endswith(("Error", "Exception", "Mismatch")) or kind == "Failed"):
        first = rest
    return first.strip()[:400]


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = longrepr[2]
        return reason[len("Skipped: ") :] if reason.startswith("Skipped: ") else reason
    return str(longrepr or "")


def explain(report: pytest.TestReport, record: CheckRecord, state: RunState) -> None:
    """Add the likely causes, the rule's text and the check's HTTP exchanges to a failure report, tokens shortened."""
    rule = rules.RULES[record.rule]
    text = str(report.longrepr).rstrip()
    for cause in record.causes:
        text += f"\n\nLikely cause: {cause.text}"
    text += f"\n\n--- rule {record.rule} ({rule.level}): {rule.title} ---\n{rule.text}"
    if state.target is not None and state.target.log.items:
        record.transcript = state.target.log.format(state.target.redact)
        text += "\n\n--- HTTP exchanges of this test (tokens shortened) ---\n" + record.transcript
    report.longrepr = _redact(state, text)


def _redact(state: RunState, text: str) -> str:
    return state.target.redact(text) if state.target is not None else text


