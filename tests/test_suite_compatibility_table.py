"""The compatibility table tool (tools/compatibility_table.py): its table, its place on the suite's page (conformance/README.md), its entries.

The tool itself runs the suite three times against every implementation (a
few minutes), so it is not run here; what is tested is what it writes and
where, from made-up runs.
"""

from __future__ import annotations

import pytest

from conformance import rules
from tools.compatibility_table import (
    BEGIN,
    END,
    IMPLEMENTATIONS,
    LEVELS,
    PAGE,
    LevelRun,
    cell,
    render_table,
    replace_between_markers,
)


def _runs(outcomes: dict[str, str], exit_codes: tuple[int, int, int] = (0, 0, 0)) -> dict[str, LevelRun]:
    runs = {}
    for level, code in zip(LEVELS, exit_codes):
        in_run = {
            rule_id: {"id": rule_id, "outcome": outcome}
            for rule_id, outcome in outcomes.items()
            if level == "extensions" or not rule_id.startswith("EXT-")
        }
        runs[level] = LevelRun(level, code, 12.0, in_run)
    return runs


def test_cell_is_the_outcome_at_the_rules_own_level():
    runs = _runs({"CORE-ME": "pass", "HARD-CSRF": "fail", "HARD-IDLE": "skip", "CORE-LIST": "partial"})
    # At level core the same HARD-CSRF failure was a WARN: the table takes the hardening run's word.
    runs["core"].rules["HARD-CSRF"] = {"id": "HARD-CSRF", "outcome": "warn"}
    assert cell(runs, "CORE-ME") == "pass"
    assert cell(runs, "HARD-CSRF") == "**FAIL**"
    assert cell(runs, "HARD-IDLE") == "not checked"
    assert cell(runs, "CORE-LIST") == "partly checked"
    assert cell(runs, "EXT-RENAME") == "—"


def test_table_has_a_row_per_rule_a_column_per_implementation_and_the_exit_codes():
    results = {
        "reference (SQLite)": _runs(dict.fromkeys(rules.RULES, "pass")),
        "third": _runs({"CORE-ME": "fail"}, (1, 1, 1)),
    }
    table = render_table(list(rules.RULES), results, {"third": "a third server"}, "2026-11-30")
    lines = table.splitlines()
    assert lines[0] == "| rule | level | reference (SQLite) | third |"
    assert "| CORE-ME | core | pass | **FAIL** |" in lines
    assert "| EXT-NEW-DEVICE | extensions | pass | — |" in lines
    assert "| *run at `--level hardening`* | | exit 0, 12 s | exit 1, 12 s |" in lines
    assert "- **third**: a third server" in lines
    rows = [line.split(" | ")[0].removeprefix("| ") for line in lines if line.startswith("| ")]
    assert [row for row in rows if row in rules.RULES] == list(rules.RULES)


def test_table_replaces_only_what_lies_between_the_markers():
    text = f"before\n{BEGIN}\nold table\n{END}\nafter\n"
    assert replace_between_markers(text, "new") == f"before\n{BEGIN}\nnew\n{END}\nafter\n"
    with pytest.raises(ValueError, match="markers"):
        replace_between_markers("no markers here", "new")


def test_suite_page_holds_the_table_once_with_a_column_per_implementation():
    text = PAGE.read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    table = text.split(BEGIN, 1)[1].split(END, 1)[0]
    header = next(line for line in table.splitlines() if line.startswith("| rule |"))
    assert header == "| rule | level | " + " | ".join(impl.name for impl in IMPLEMENTATIONS) + " |"
    for rule_id in rules.RULES:
        assert f"| {rule_id} |" in table, f"the table in conformance/README.md has no row for {rule_id}: run the tool again"


def test_every_implementation_has_a_unique_name_and_a_description():
    names = [impl.name for impl in IMPLEMENTATIONS]
    assert len(names) == len(set(names)) >= 2
    assert all(impl.description for impl in IMPLEMENTATIONS)
