"""How a failed check is written for a person: the rule, what was expected, what came back, the likely cause.

The suite's terminal output and the lesson runner both write failures with
this module, so a student reads the same three lines wherever a check failed:

    × HARD-CSRF test_cross_site_state_change_gets_403_and_changes_nothing[logout-other-site]
        Expected: POST /logout: 403 (other-site: {'Origin': 'https://evil.example'})
          Actual: 200 {"message":"Logged out."}

then "Likely cause: …" when conformance/diagnoses.py recognised the mistake,
and the check's HTTP exchanges only when asked (`transcript=True`; the suite's
-v, its JSON and JUnit reports). The rule's own text is written once per rule
(`rule_text`), above its failed checks, never once per check.

`render(FailedCheck)` is the public entry: build a FailedCheck with
`from_exception` from what a check raised, or directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from conformance import rules
from conformance.diagnoses import Diagnosis

# "POST /logout: expected 403 (why), got 200 {...}": the phrasing of the suite's
# assertions (conformance/expect.py), read apart when a check raised no Mismatch.
_EXPECTED_GOT = re.compile(r"^(?P<expected>.+?), got (?P<got>.+)$", re.DOTALL)
_EXPECTED_WORD = re.compile(r"^(?P<what>[^:]*: )?expected (?P<rest>.+)$", re.DOTALL)
MARK = "×"
INDENT = "    "


@dataclass(frozen=True)
class FailedCheck:
    """One failed check: its rule, its name, its one-line message, and what it knows besides."""

    rule: str
    name: str
    message: str
    expected: str = ""
    got: str = ""
    causes: Sequence[Diagnosis] = ()
    transcript: str = ""


def expected_and_got(message: str) -> tuple[str, str]:
    """Split "X: expected A, got B" into ("X: A", "B"); ("", "") when the message is not so phrased."""
    match = _EXPECTED_GOT.match(message.strip())
    if match is None:
        return "", ""
    expected = match["expected"]
    word = _EXPECTED_WORD.match(expected)
    if word is not None:
        expected = (word["what"] or "") + word["rest"]
    return expected.strip(), match["got"].strip()


def from_exception(rule: str, name: str, exc: BaseException, causes: Sequence[Diagnosis] = (), transcript: str = "") -> FailedCheck:
    """Build a FailedCheck from what a check raised (an expect.Mismatch says expected and actual itself)."""
    text = str(exc).strip()
    message = next((line for line in text.splitlines() if line.strip()), type(exc).__name__)
    expected, got = getattr(exc, "expected", ""), getattr(exc, "got", "")
    if not expected:
        expected, got = expected_and_got(message)
    return FailedCheck(rule, name, message, expected, got, tuple(causes), transcript)


def render(check: FailedCheck, *, transcript: bool = False) -> list[str]:
    """Return the lines that tell a person about one failed check (about three; the exchanges only on request)."""
    lines = [f"{MARK} {check.rule} {check.name}"]
    expected, got = (check.expected, check.got) if check.expected else expected_and_got(check.message)
    if expected:
        lines += [f"{INDENT}Expected: {expected}", f"{INDENT}  Actual: {got}"]
    else:
        lines.append(f"{INDENT}  Failed: {check.message}")
    lines += [f"{INDENT}Likely cause: {cause.text}" for cause in check.causes]
    if transcript and check.transcript:
        lines.append(f"{INDENT}HTTP exchanges (tokens shortened):")
        lines += [f"{INDENT}  {line}" if line else "" for line in check.transcript.splitlines()]
    return lines


def rule_text(rule_id: str) -> list[str]:
    """Return the rule's heading and the contract's own words, to write once above its failed checks."""
    rule = rules.RULES[rule_id]
    return [f"--- rule {rule_id} ({rule.level}): {rule.title} ---", *rule.text.splitlines()]
