"""--expect-failures: the rules an implementation is known to fail, and why.

The file lists one rule per line: the rule ID, whitespace, and the reason
(free text). Blank lines and lines starting with `#` are ignored:

    # my-server 1.4: known gaps
    HARD-CORS      echoes any Origin (issue #12)
    HARD-IDLE      no idle timeout yet

A listed rule shows as XFAIL and does not fail the run; a listed rule that
passes, or a line naming no rule, fails it (conformance/outcomes.py).
"""

from __future__ import annotations

from pathlib import Path

from conformance import rules


def parse_expectations(text: str, source: str = "expect-failures") -> tuple[dict[str, str], list[str]]:
    """Return ({rule ID: reason}, [problems]) for an --expect-failures file's text."""
    expected: dict[str, str] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        rule_id, _, reason = stripped.partition(" ")
        if "\t" in rule_id:
            rule_id, _, rest = rule_id.partition("\t")
            reason = rest + " " + reason
        rule_id = rule_id.strip().upper()
        reason = reason.strip() or f"listed in {source}"
        if rule_id not in rules.RULES:
            problems.append(f"{source}:{number}: {rule_id!r} names no rule of the contract (see --list-rules)")
            continue
        expected[rule_id] = reason
    return expected, problems


def read_expectations(path: str) -> tuple[dict[str, str], list[str]]:
    """Read and parse an --expect-failures file; raise OSError when it cannot be read."""
    return parse_expectations(Path(path).read_text(encoding="utf-8"), path)
