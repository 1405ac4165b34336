"""The run's reports: the terminal's failures and rule table, the JSON report, and the JUnit report's rule properties.

The terminal is written for a person: each failed check in about three lines
(conformance/failures.py), the rule's text once above them, then one line per
rule and one summary line. The HTTP exchanges of a failed check go to the
JSON and JUnit reports, and to the terminal with -v. The JSON report carries
everything: per rule its outcome, per check what was expected, what came back,
the likely causes and the exchanges.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance import failures
from conformance.diagnoses import Diagnosis
from conformance.outcomes import summary, summary_line
from conformance.state import RunState

# A rule's failed checks shown in full; the rest are named on one line. A
# rule checked through many parameters (HARD-CSRF: 18 requests) fails them
# for one reason, and a screen per failing rule is what a person reads.
CHECKS_SHOWN_PER_RULE = 5

MARKS = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "warn": "WARN", "skip": "SKIP", "xfail": "XFAIL", "partial": "PART"}
COLOURS = {"pass": "green", "fail": "red", "error": "red", "warn": "yellow", "skip": "yellow", "xfail": "yellow", "partial": "yellow"}


def record_junit_properties(state: RunState) -> None:
    """Write each rule's outcome as a <property> of the JUnit report's <testsuite>."""
    if state.record_suite_property is None:
        return
    for result in state.results:
        outcome, message = result["outcome"], result["message"]
        state.record_suite_property(f"rule {result['id']}", f"{outcome}: {message}" if message else outcome)


def write_json(state: RunState, path: str) -> None:
    report = {
        "target": state.target.base_url if state.target is not None else None,
        "level": state.level,
        "rules": state.results,
        "summary": summary(state.results),
        "problems": state.problems,
        "notes": state.notes,
        "exit_code": state.exit_code,
    }
    Path(path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def failed_checks(result: dict[str, Any]) -> list[failures.FailedCheck]:
    """The checks of a rule's result that failed the run (FAIL or ERROR), as the failure writer takes them."""
    return [
        failures.FailedCheck(
            result["id"],
            test["name"],
            test["message"],
            test.get("expected", ""),
            test.get("got", ""),
            tuple(Diagnosis(cause["id"], cause["text"]) for cause in test.get("likely_causes", [])),
            test.get("transcript", ""),
        )
        for test in result["tests"]
        if test["outcome"] in ("fail", "error")
    ]


def write_failures(terminal: Any, state: RunState, others: list[Any]) -> None:
    """Write each failed check, grouped by rule with the rule's text once; then failures that are no check."""
    failing = [result for result in state.results if failed_checks(result)]
    if not failing and not others:
        return
    terminal.section("failures")
    for index, result in enumerate(failing):
        if index:
            terminal.write_line("")
        for line in failures.rule_text(result["id"]):
            terminal.write_line(line, bold=line.startswith("--- rule "))
        checks = failed_checks(result)
        for check in checks[:CHECKS_SHOWN_PER_RULE]:
            lines = failures.render(check)
            terminal.write_line(lines[0], red=True)
            for line in lines[1:]:
                terminal.write_line(line, bold=line.lstrip().startswith("Likely cause"))
        rest = checks[CHECKS_SHOWN_PER_RULE:]
        if rest:
            names = ", ".join(_short_name(check.name) for check in rest)
            terminal.write_line(
                f"{failures.MARK} {len(rest)} more {'check' if len(rest) == 1 else 'checks'} of {result['id']} "
                f"failed: {names} "
                "(each in the JSON report; -v writes them all here)",
                red=True,
            )
    for report in others:
        # Not a check of the suite (a test from elsewhere, a file that failed to import): shown as pytest would.
        terminal.write_line("")
        terminal.write_line(f"--- {report.nodeid or 'collection'} ---", bold=True)
        terminal.write_line(str(report.longrepr).rstrip())


def _short_name(name: str) -> str:
    """A parametrized check is named by its parameters alone ("[logout-null-origin]")."""
    bracket = name.find("[")
    return name[bracket:] if bracket >= 0 else name


def write_table(terminal: Any, state: RunState) -> None:
    """Write one line per rule (and its first message and likely causes), the notes and problems, one summary line."""
    write = terminal.write_line
    terminal.section(f"conformance: {state.target.base_url if state.target else '?'} (level {state.level})")
    width = max(len(result["id"]) for result in state.results)
    for result in state.results:
        mark = MARKS[result["outcome"]]
        write(f"{mark:<5} {result['id']:<{width}}  {result['title']}", **{COLOURS[result["outcome"]]: True})
        if result["message"]:
            message = result["message"]
            write(f"{'':<5} {'':<{width}}  {message if len(message) <= 200 else message[:200] + '…'}")
        for cause in result.get("likely_causes", []):
            write(f"{'':<5} {'':<{width}}  Likely cause: {cause['text']}", bold=True)
    for note in state.notes:
        write(f"NOTE  {note}", yellow=True)
    for problem in state.problems:
        write(f"ERROR {problem}", red=True)
    write(summary_line(summary(state.results)), bold=True)
