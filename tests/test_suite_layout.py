"""The suite reads like the contract: one file per rule ID, named after it, and the contract's own words.

- `conformance/sessions-api.md` (shipped in the package, so the suite installed
  alone can quote its rules) is byte for byte `docs/sessions-api.md`, and the
  rule table is parsed from it: there is no second copy of any rule's text.
- Every rule of the contract has its file, `conformance/<level>/test_<prefix>_<rule>.py`,
  and every test in it carries that rule's marker and no other.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path

import pytest

from conformance import rules

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "conformance"
CONTRACT = ROOT / "docs" / "sessions-api.md"
FOLDERS = {rules.CORE: "core", rules.HARDENING: "hardening", rules.EXTENSIONS: "extensions"}
FILE_PREFIX = {rules.CORE: "core", rules.HARDENING: "hard", rules.EXTENSIONS: "ext"}

# Rules of the contract whose checks are still to be written and have no
# file yet. Each is a strict xfail below: the day its file arrives, the test
# passes, strict turns that red, and whoever adds the file removes the entry.
RULES_AWAITING_TESTS = {
}


def rule_file(rule_id: str) -> Path:
    """Return the path the layout gives a rule's checks (CORE-LAST-ACTIVE → core/test_core_last_active.py)."""
    level = rules.level_of(rule_id)
    stem = rule_id.split("-", 1)[1].lower().replace("-", "_")
    return SUITE / FOLDERS[level] / f"test_{FILE_PREFIX[level]}_{stem}.py"


def _rule_markers(node: ast.AST) -> list[str]:
    """Return the IDs of every `pytest.mark.rule("ID")` written in a piece of code."""
    found = []
    for call in ast.walk(node):
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "rule"
            and isinstance(call.func.value, ast.Attribute)
            and call.func.value.attr == "mark"
        ):
            found += [arg.value for arg in call.args if isinstance(arg, ast.Constant)]
    return found


def _test_files() -> list[Path]:
    return sorted(SUITE.rglob("test_*.py"))


# --- the rule texts are the contract's -------------------------------------------------


def test_shipped_contract_is_byte_for_byte_the_docs_one():
    assert (SUITE / rules.CONTRACT_FILE).read_bytes() == CONTRACT.read_bytes(), (
        "conformance/sessions-api.md differs from docs/sessions-api.md: copy docs/sessions-api.md over it"
    )


def test_every_rule_text_is_the_contracts_word_for_word():
    contract = CONTRACT.read_text(encoding="utf-8")
    for rule in rules.RULES.values():
        assert rule.text in contract and rule.id in rule.text.splitlines()[0]


def test_every_rule_id_the_contract_mentions_is_in_the_table():
    mentioned = set(re.findall(rf"\b{rules.RULE_ID}\b", CONTRACT.read_text(encoding="utf-8")))
    assert mentioned == set(rules.RULES)


def test_rule_table_holds_the_new_hardening_and_extension_rules():
    assert {"HARD-THROTTLE", "EXT-PASSWORD", "EXT-RENAME", "EXT-ACTIVITY", "EXT-REASON", "EXT-NEW-DEVICE"} <= set(
        rules.RULES
    )
    assert rules.RULES["EXT-RENAME"].level == rules.EXTENSIONS
    assert "`PATCH /me/sessions/{id}`" in rules.RULES["EXT-RENAME"].text


def test_every_rule_has_a_title_and_every_title_a_rule():
    assert set(rules.TITLES) == set(rules.RULES)


def test_one_bullet_defining_two_rules_gives_both_its_text():
    assert rules.RULES["HARD-IDLE"].text == rules.RULES["HARD-ABSOLUTE"].text
    assert rules.RULES["HARD-IDLE"].text.startswith("- **HARD-IDLE / HARD-ABSOLUTE** ")


def test_parser_reads_headings_and_bullets_and_refuses_a_rule_defined_twice():
    text = "## A\n### CORE-X `GET /x`\nline one\n- item\n\n## B\n- **HARD-Y** first\n  second\n- **HARD-Z** z\n"
    assert rules.parse_contract(text) == {
        "CORE-X": "### CORE-X `GET /x`\nline one\n- item",
        "HARD-Y": "- **HARD-Y** first\n  second",
        "HARD-Z": "- **HARD-Z** z",
    }
    with pytest.raises(ValueError, match="HARD-Y"):
        rules.parse_contract("- **HARD-Y** one\n- **HARD-Y** two\n")


# --- one file per rule ------------------------------------------------------------------------


def test_test_files_sit_in_level_folders_only():
    misplaced = [str(path.relative_to(SUITE)) for path in _test_files() if path.parent.name not in FOLDERS.values()]
    assert misplaced == []


@pytest.mark.parametrize("path", _test_files(), ids=lambda path: str(path.relative_to(SUITE)))
def test_every_test_carries_the_rule_of_its_file(path):
    owners = {rule_file(rule_id): rule_id for rule_id in rules.RULES}
    assert path in owners, f"{path.relative_to(SUITE)} names no rule of the contract"
    rule_id = owners[path]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    module_markers = [
        marker
        for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in node.targets)
        for marker in _rule_markers(node)
    ]
    tests = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")]
    assert tests, f"{path.name} holds no test"
    for test in tests:
        markers = module_markers + [m for decorator in test.decorator_list for m in _rule_markers(decorator)]
        assert markers == [rule_id], f"{path.name}::{test.name} is marked {markers}, not [{rule_id!r}]"
    stray = set(_rule_markers(tree)) - {rule_id}
    assert stray == set(), f"{path.name} names other rules: {sorted(stray)}"


def rule_params(rule_ids: Iterable[str] | None = None) -> list:
    """Parametrize by rule ID (default: every rule of the contract); a rule awaiting its checks is a strict xfail,
    so its arrival turns the test red until the mark goes."""
    return [
        pytest.param(
            rule_id,
            id=rule_id,
            marks=[pytest.mark.xfail(strict=True, reason=RULES_AWAITING_TESTS[rule_id])]
            if rule_id in RULES_AWAITING_TESTS
            else [],
        )
        for rule_id in (rules.RULES if rule_ids is None else rule_ids)
    ]


@pytest.mark.parametrize("rule_id", rule_params())
def test_every_rule_of_the_contract_has_its_file(rule_id):
    path = rule_file(rule_id)
    assert path.is_file(), f"{rule_id} has no checks: expected {path.relative_to(ROOT)}"


def test_awaiting_list_names_only_rules_of_the_contract():
    assert set(RULES_AWAITING_TESTS) <= set(rules.RULES)


@pytest.mark.parametrize(
    "rule_id, path",
    [
        ("CORE-LAST-ACTIVE", "core/test_core_last_active.py"),
        ("HARD-BAD-INPUT", "hardening/test_hard_bad_input.py"),
        ("EXT-NEW-DEVICE", "extensions/test_ext_new_device.py"),
    ],
)
def test_rule_file_follows_the_layout(rule_id, path):
    assert rule_file(rule_id) == SUITE / path
