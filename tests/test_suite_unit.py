"""Unit tests of the conformance suite's pure pieces: cookies, timestamps, redaction, rules, expectations."""

from __future__ import annotations

import ast
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conformance import diagnoses, rules
from conformance.__main__ import build_parser, pytest_arguments
from conformance.client import (
    Exchange,
    ExchangeLog,
    Redactor,
    Target,
    cookie_seconds_left,
    made_up_id,
    parse_set_cookie,
    parse_timestamp,
    redact_cookie_header,
    shorten,
)
from conformance import failures
from conformance.expect import Mismatch
from conformance.expectations import parse_expectations
from conformance.outcomes import CheckRecord, rule_outcome, summary_line
from conformance.preconditions import PreconditionFailed, blamed_rule, precondition

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "conformance"
TOKEN = "Xy3fQ9kLm2Np8Rs4Tu6Vw0Yz1Ab5Cd7Ef9Gh2Ij4Klm"  # 43 chars, the shape of a real token


# --- Set-Cookie ---------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, name, value, attrs",
    [
        (
            f"session={TOKEN}; HttpOnly; SameSite=Lax; Path=/; Max-Age=86400",
            "session",
            TOKEN,
            {"httponly": "", "samesite": "Lax", "path": "/", "max-age": "86400"},
        ),
        # Attribute names in any case and order; values keep their case.
        (
            "sid=abc;path=/;HTTPONLY;  samesite=STRICT ;secure",
            "sid",
            "abc",
            {"path": "/", "httponly": "", "samesite": "STRICT", "secure": ""},
        ),
        # A quoted value loses its quotes (RFC 6265 allows DQUOTEs around it).
        ('session="a b c"; Path=/', "session", "a b c", {"path": "/"}),
        # Expires holds a comma: the header must not be split on commas.
        (
            "session=x; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Path=/",
            "session",
            "x",
            {"expires": "Wed, 21 Oct 2015 07:28:00 GMT", "path": "/"},
        ),
        # Base64 padding inside the value stays in the value.
        ("session=a=b==; Path=/", "session", "a=b==", {"path": "/"}),
        # No "=" at all: a nameless cookie, as browsers read it.
        ("justavalue", "", "justavalue", {}),
        # A later duplicate attribute wins, as in browsers.
        ("session=x; Path=/a; Path=/", "session", "x", {"path": "/"}),
        ("session=; Max-Age=0", "session", "", {"max-age": "0"}),
    ],
)
def test_parse_set_cookie(raw, name, value, attrs):
    assert parse_set_cookie(raw) == (name, value, attrs)


@pytest.mark.parametrize(
    "attrs, expected",
    [
        ({"max-age": "0"}, 0.0),
        ({"max-age": "86400"}, 86400.0),
        ({"max-age": "-1"}, -1.0),
        ({}, None),
        ({"max-age": "soon"}, None),
        # Max-Age wins over Expires.
        ({"max-age": "60", "expires": "Thu, 01 Jan 1970 00:00:00 GMT"}, 60.0),
    ],
)
def test_cookie_seconds_left(attrs, expected):
    assert cookie_seconds_left(attrs, now=1_000_000.0) == expected


def test_cookie_seconds_left_reads_expires_in_either_date_style():
    now = datetime(2015, 10, 21, 7, 0, tzinfo=timezone.utc).timestamp()
    assert cookie_seconds_left({"expires": "Wed, 21 Oct 2015 07:28:00 GMT"}, now) == 28 * 60
    assert cookie_seconds_left({"expires": "Wed, 21-Oct-2015 07:28:00 GMT"}, now) == 28 * 60
    assert cookie_seconds_left({"expires": "Thu, 01 Jan 1970 00:00:00 GMT"}) < 0


# --- timestamps -------------------------------------------------------------------

WHEN = datetime(2026, 11, 26, 19, 40, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-11-26T19:40:00Z", WHEN),
        ("2026-11-26 19:40:00", WHEN),  # SQLite's form, naive: UTC
        ("2026-11-26T19:40:00", WHEN),
        ("2026-11-26T21:40:00+02:00", WHEN),
        ("2026-11-26T14:40:00-05:00", WHEN),
        ("2026-11-26t19:40:00z", WHEN),
        ("2026-11-26T19:40:00.250Z", WHEN.replace(microsecond=250_000)),
        ("2026-11-26 19:40:00.123456789+00:00", WHEN.replace(microsecond=123_456)),
        (" 2026-11-26T19:40:00Z ", WHEN),
    ],
)
def test_parse_timestamp(text, expected):
    parsed = parse_timestamp(text)
    assert parsed == expected and parsed.tzinfo is not None


@pytest.mark.parametrize("value", ["2026-11-26", "yesterday", "", "2026-13-40T00:00:00Z", 1_764_186_000, None])
def test_parse_timestamp_refuses_non_timestamps(value):
    with pytest.raises(ValueError):
        parse_timestamp(value)


# --- redaction ----------------------------------------------------------------------


def test_shorten_keeps_four_chars_and_the_length():
    assert shorten(TOKEN) == "Xy3f…(43 chars)"


def test_redactor_replaces_every_known_token():
    redact = Redactor()
    redact.add(TOKEN)
    redact.add("short")  # made-up garbage, not a credential
    text = f'{{"token": "{TOKEN}"}} and again {TOKEN}; short stays'
    assert redact(text) == '{"token": "Xy3f…(43 chars)"} and again Xy3f…(43 chars); short stays'


def test_redact_cookie_header_shortens_values_not_attributes():
    raw = f"session={TOKEN}; Path=/; Expires=Wed, 21 Oct 2015 07:28:00 GMT; SameSite=Lax"
    shown = "session=Xy3f…(43 chars); Path=/; Expires=Wed, 21 Oct 2015 07:28:00 GMT; SameSite=Lax"
    assert redact_cookie_header(raw) == shown
    assert redact_cookie_header(f"a=1; session={TOKEN}") == "a=1; session=Xy3f…(43 chars)"


def test_exchange_log_never_shows_a_known_token():
    redact = Redactor()
    redact.add(TOKEN)
    log = ExchangeLog()
    log.append(
        Exchange(
            device="chrome",
            method="POST",
            path="/login",
            request_headers=[("Cookie", redact_cookie_header(f"session={TOKEN}"))],
            request_body='{"email": "a@example.com", "password": "…"}',
            status=200,
            response_headers=[("set-cookie", redact_cookie_header(f"session={TOKEN}; Path=/"))],
            response_body=f'{{"leak": "{TOKEN}"}}',
        )
    )
    shown = log.format(redact)
    assert TOKEN not in shown
    assert "POST /login" in shown and "< 200" in shown and "Xy3f…(43 chars)" in shown


# --- targets and ids ----------------------------------------------------------------


def test_target_joins_paths_under_a_prefix():
    target = Target("http://example.test:8080/api/")
    assert target.url("/me/sessions") == "http://example.test:8080/api/me/sessions"
    assert target.url("me") == "http://example.test:8080/api/me"


@pytest.mark.parametrize(
    "base, https, origin",
    [
        ("http://127.0.0.1:3000", False, "http://127.0.0.1:3000"),
        ("http://example.test/api", False, "http://example.test"),
        ("http://example.test:80", False, "http://example.test"),
        ("https://example.test", False, "https://example.test"),
        # Declared TLS in front of a plain-HTTP hop: the browser's origin is https.
        ("http://example.test", True, "https://example.test"),
        ("http://[::1]:3000", False, "http://[::1]:3000"),
    ],
)
def test_target_origin(base, https, origin):
    assert Target(base, https=https).origin == origin


def test_foreign_origins_differ_from_the_targets_own():
    target = Target("http://127.0.0.1:3000")
    foreign = target.foreign_origins()
    assert foreign["other-port"] == "http://127.0.0.1:3001"
    assert foreign["other-scheme"] == "https://127.0.0.1:3000"
    assert target.origin not in foreign.values()


@pytest.mark.parametrize("base", ["localhost:3000", "ftp://example.test", "http://", "http://h/?q=1"])
def test_target_refuses_a_base_url_that_is_no_http_url(base):
    with pytest.raises(ValueError):
        Target(base)


@pytest.mark.parametrize(
    "real, shape",
    [
        ("3f2b8c1e-9d4a-4b6e-8f0a-1c2d3e4f5a6b", r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
        ("12", r"\d+"),
        ("Nc_tEBEL9fWnum791Kx", r"[A-Za-z0-9_]{19}"),
        ("abcdef0123456789", r"[0-9a-f]{16}"),
    ],
)
def test_made_up_id_keeps_the_shape_and_differs(real, shape):
    made = made_up_id(real)
    assert made != real and re.fullmatch(shape, made)


# --- rules, selection, expectations, outcomes -----------------------------------------


def test_every_rule_has_a_title_a_text_and_the_level_of_its_prefix():
    # That the texts are the contract's, word for word: tests/test_suite_layout.py.
    for rule_id, rule in rules.RULES.items():
        assert rule.id == rule_id and rule.title and len(rule.text) > 40
        assert rule.level == {"CORE": "core", "HARD": "hardening", "EXT": "extensions"}[rule_id.split("-")[0]]


@pytest.mark.parametrize(
    "patterns, expected",
    [
        (["CORE-REVOKE"], ["CORE-REVOKE"]),
        (["core-revoke"], ["CORE-REVOKE"]),
        (["CORE-REVOKE*"], ["CORE-REVOKE", "CORE-REVOKE-ALL"]),
        (["HARD-I*", "CORE-EX?"], ["CORE-EX1", "CORE-EX2", "CORE-EX3", "HARD-IDLE"]),
        (["CORE-ME", "CORE-ME"], ["CORE-ME"]),
    ],
)
def test_rule_selection_by_id_or_glob(patterns, expected):
    assert rules.select(patterns) == expected


def test_rule_selection_defaults_to_every_rule_and_refuses_typos():
    assert rules.select([]) == list(rules.RULES)
    assert [r for r in rules.select(["HARD-*"]) if not r.startswith("HARD-")] == []
    with pytest.raises(ValueError, match="CORE-REVOKED"):
        rules.select(["CORE-REVOKE", "CORE-REVOKED"])


@pytest.mark.parametrize(
    "level, prefixes",
    [("core", {"CORE", "HARD"}), ("hardening", {"CORE", "HARD"}), ("extensions", {"CORE", "HARD", "EXT"})],
)
def test_levels_run_core_and_hard_and_only_extensions_runs_ext(level, prefixes):
    assert {rule_id.split("-")[0] for rule_id in rules.select([], level)} == prefixes


def test_ext_rule_named_below_the_extensions_level_is_refused():
    with pytest.raises(ValueError, match="--level extensions"):
        rules.select(["EXT-*"], "hardening")
    # A glob reaching both keeps what the level runs.
    assert rules.select(["*-RE*"], "core") == ["CORE-REVOKE", "CORE-REVOKE-ALL"]


@pytest.mark.parametrize(
    "rule_id, level",
    [("CORE-ME", "core"), ("HARD-THROTTLE", "hardening"), ("EXT-NEW-DEVICE", "extensions"), ("EXT-REASON", "extensions")],
)
def test_level_of_reads_the_prefix(rule_id, level):
    assert rules.level_of(rule_id) == level


def test_level_of_refuses_what_is_no_rule_id():
    with pytest.raises(ValueError):
        rules.level_of("MAY-RENAME")


def test_expectations_file_with_comments_blanks_and_unknown_ids():
    text = (
        "# known gaps of my-server 1.4\n"
        "\n"
        "HARD-CORS      echoes any Origin (issue #12)\n"
        "   # indented comment\n"
        "hard-idle\tno idle timeout yet\n"
        "HARD-ENUM\n"
        "HARD-NOPE      a typo\n"
    )
    expected, problems = parse_expectations(text, "gaps.txt")
    assert expected == {
        "HARD-CORS": "echoes any Origin (issue #12)",
        "HARD-IDLE": "no idle timeout yet",
        "HARD-ENUM": "listed in gaps.txt",
    }
    assert len(problems) == 1 and "gaps.txt:7" in problems[0] and "HARD-NOPE" in problems[0]


def _records(*outcomes):
    return [CheckRecord(f"test_{i}", "X", outcome, f"why {i}") for i, outcome in enumerate(outcomes)]


@pytest.mark.parametrize(
    "rule_id, outcomes, level, expected, result",
    [
        ("CORE-ME", ["pass", "pass"], "core", {}, "pass"),
        ("CORE-ME", ["skip", "skip"], "core", {}, "skip"),
        ("CORE-ME", ["pass", "fail"], "core", {}, "fail"),
        ("CORE-ME", ["pass", "fail"], "hardening", {}, "fail"),
        ("HARD-CORS", ["fail"], "core", {}, "warn"),
        ("HARD-CORS", ["fail"], "hardening", {}, "fail"),
        ("HARD-CORS", ["fail"], "hardening", {"HARD-CORS": "known"}, "xfail"),
        ("CORE-ME", ["fail", "skip"], "core", {"CORE-ME": "known"}, "xfail"),
        ("HARD-CORS", ["pass"], "hardening", {"HARD-CORS": "known"}, "pass"),  # stale: the plugin flags it
        # A precondition of another rule failed: not checked, which is neither FAIL nor PASS.
        ("HARD-CSRF", ["pass", "precondition"], "hardening", {}, "error"),
        ("HARD-CSRF", ["precondition", "fail"], "hardening", {}, "fail"),  # its own failure comes first
        ("HARD-CSRF", ["precondition"], "core", {}, "warn"),
        ("HARD-CSRF", ["precondition"], "hardening", {"HARD-CSRF": "known"}, "xfail"),
        ("CORE-EX2", ["precondition", "skip"], "core", {}, "error"),
        ("CORE-LIST", ["pass", "skip"], "core", {}, "partial"),
        ("CORE-LIST", ["fail", "skip"], "core", {}, "fail"),
        ("HARD-IDLE", ["skip", "skip"], "hardening", {}, "skip"),
    ],
)
def test_rule_outcome_aggregation(rule_id, outcomes, level, expected, result):
    assert rule_outcome(rule_id, _records(*outcomes), level, expected)[0] == result


def test_partly_checked_rule_names_each_skipped_check_and_why():
    outcome, message = rule_outcome("CORE-LIST", _records("pass", "skip", "pass"), "core", {})
    assert outcome == "partial"
    assert message == "partly checked (2 of 3 checks ran): test_1 skipped: why 1"


def test_check_that_does_not_apply_leaves_the_rule_complete():
    records = _records("pass", "pass")
    records.append(CheckRecord("test_secure", "HARD-COOKIE", "skip", "not applicable: plain HTTP"))
    assert rule_outcome("HARD-COOKIE", records, "hardening", {}) == ("pass", "")


def test_rule_outcome_message_names_the_first_failing_test():
    outcome, message = rule_outcome("CORE-ME", _records("pass", "fail", "fail"), "core", {})
    assert (outcome, message) == ("fail", "test_1: why 1")


def test_expected_failure_message_puts_the_failure_before_the_reason():
    outcome, message = rule_outcome("HARD-CSRF", _records("fail"), "hardening", {"HARD-CSRF": "no Origin check"})
    assert (outcome, message) == ("xfail", "test_0: why 0 [expected: no Origin check]")


def test_summary_line_shows_extra_counts_only_when_nonzero():
    counts = {"passed": 21, "failed": 1, "partial": 2, "warned": 2, "skipped": 3, "xfailed": 0}
    assert summary_line(counts) == "21 passed, 1 failed, 2 partly checked, 2 warned, 3 skipped"
    assert summary_line(dict.fromkeys(counts, 0)) == "0 passed, 0 failed"
    assert summary_line({**counts, "errors": 1}) == (
        "21 passed, 1 failed, 1 not checked (precondition failed), 2 partly checked, 2 warned, 3 skipped"
    )


# --- preconditions and likely causes ------------------------------------------------------


def test_failure_inside_a_precondition_blames_its_rule():
    with pytest.raises(PreconditionFailed) as caught:
        with precondition("CORE-REVOKE-ALL", "the revoke-all must work"):
            raise AssertionError("GET /me: expected 401, got 200\n(more lines)")
    assert blamed_rule(caught) == "CORE-REVOKE-ALL"
    assert str(caught.value) == (
        "precondition failed (CORE-REVOKE-ALL): the revoke-all must work: GET /me: expected 401, got 200"
    )


def test_precondition_keeps_the_innermost_blame_and_lets_other_errors_through():
    with pytest.raises(PreconditionFailed) as caught:
        with precondition("CORE-REVOKE", "outer"):
            with precondition("CORE-ME", "inner"):
                raise AssertionError("boom")
    assert blamed_rule(caught) == "CORE-ME"
    with pytest.raises(KeyError):
        with precondition("CORE-ME", "a bug in the suite is no precondition"):
            raise KeyError("x")


def test_a_plain_failure_blames_nobody_and_a_precondition_must_name_a_rule():
    with pytest.raises(AssertionError) as caught:
        raise AssertionError("plain")
    assert blamed_rule(caught) is None and blamed_rule(None) is None
    with pytest.raises(ValueError):
        PreconditionFailed("CORE-NOPE", "x")


def test_diagnoses_are_recorded_once_and_cleared():
    diagnoses.clear()
    diagnoses.record(diagnoses.SECOND_COPY)
    diagnoses.record(diagnoses.SECOND_COPY)
    diagnoses.record(diagnoses.REVOKE_UNKNOWN_200)
    assert diagnoses.found() == [diagnoses.SECOND_COPY, diagnoses.REVOKE_UNKNOWN_200]
    diagnoses.clear()
    assert diagnoses.found() == []


def test_every_diagnosis_has_a_unique_id_and_a_sentence_for_implementers_and_students():
    assert len(diagnoses.BY_ID) == len(diagnoses.ALL) == 13
    assert all(diagnosis.text.endswith(".") and len(diagnosis.text) > 60 for diagnosis in diagnoses.ALL)
    assert all(d.for_student.endswith(".") and len(d.for_student) > 60 for d in diagnoses.ALL)
    assert len({d.for_student for d in diagnoses.ALL}) == len(diagnoses.ALL)


def _entry(session_id, current, ip="127.0.0.1", name="Chrome on macOS"):
    return {"id": session_id, "isCurrent": current, "ip": ip, "deviceName": name}


@pytest.mark.parametrize(
    "entries, fires",
    [
        ([_entry("a", True), _entry("b", False, name="Firefox on Windows")], False),
        # Two current sessions from one address: "current" follows the IP.
        ([_entry("a", True, name="Chrome on macOS"), _entry("b", True, name="Firefox on Windows")], True),
        # Two current sessions with one device name, from two addresses: it follows the User-Agent.
        ([_entry("a", True, ip="10.0.0.1"), _entry("b", True, ip="10.0.0.2")], True),
        # Two current sessions sharing neither: wrong, but not this mistake.
        ([_entry("a", True, ip="10.0.0.1", name="A on B"), _entry("b", True, ip="10.0.0.2", name="C on D")], False),
        ([], False),
    ],
)
def test_current_marks_by_ip_or_user_agent_are_diagnosed(entries, fires):
    diagnoses.clear()
    diagnoses.look_at_current_marks(entries)
    assert (diagnoses.found() == [diagnoses.CURRENT_BY_CLIENT]) is fires
    diagnoses.clear()


# --- the command line -------------------------------------------------------------------


def test_main_translates_options_for_pytest():
    namespace = build_parser().parse_args(
        ["--base-url", "http://h:1", "--strict", "--rule", "CORE-ME", "--rule", "HARD-*"]
        + ["--https", "--idle-timeout", "4"]
    )
    args = pytest_arguments(namespace, ["-x"])
    assert args[0] == str(SUITE)
    joined = " ".join(args)
    assert "--base-url http://h:1" in joined and "--level hardening" in joined
    assert "--rule CORE-ME --rule HARD-*" in joined and "--https" in args and "--idle-timeout 4.0" in joined
    assert args[-1] == "-x"


# --- the suite's own house style ---------------------------------------------------------


def _suite_tests():
    for path in sorted(SUITE.rglob("test_*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                yield path.name, node.name


def test_suite_test_names_state_rules_briefly_and_uniquely():
    names = [name for _, name in _suite_tests()]
    assert len(names) > 50
    assert [n for n in names if len(n) >= 70] == []
    assert [n for n in names if n.startswith(("test_should", "test_that"))] == []
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})


def test_timestamps_survive_a_round_trip_through_now():
    now = datetime.now(timezone.utc).replace(microsecond=0)
    assert parse_timestamp(now.strftime("%Y-%m-%dT%H:%M:%SZ")) == now
    assert abs(parse_timestamp(now.isoformat()).timestamp() - time.time()) < 5


# --- how a failed check is written ------------------------------------------------------


def test_failed_check_is_written_as_rule_expected_and_actual():
    check = failures.FailedCheck(
        "CORE-REVOKE", "test_revoke_answers_404", 'DELETE /me/sessions/x: expected 404, got 200 {"ok":1}'
    )
    assert failures.render(check) == [
        "× CORE-REVOKE test_revoke_answers_404",
        "    Expected: DELETE /me/sessions/x: 404",
        '      Actual: 200 {"ok":1}',
    ]


def test_failed_check_says_the_likely_cause_and_shows_exchanges_only_when_asked():
    cause = diagnoses.SECOND_COPY
    check = failures.FailedCheck("CORE-EX3", "test_ex3", "the session still works", causes=(cause,), transcript="#1 GET /me")
    lines = failures.render(check)
    assert lines[1] == "      Failed: the session still works"
    assert lines[2] == f"    Likely cause: {cause.text}"
    assert len(lines) == 3
    assert failures.render(check, transcript=True)[-1] == "      #1 GET /me"


def test_failed_check_from_a_mismatch_keeps_its_own_expected_and_actual():
    exc = Mismatch("GET /me answered 200 without no-store", "GET /me: Cache-Control: no-store", "200 with (none)")
    check = failures.from_exception("HARD-NO-STORE", "test_no_store", exc)
    assert (check.message, check.expected, check.got) == (str(exc), exc.expected, exc.got)
    plain = failures.from_exception("CORE-ME", "test_me", AssertionError("GET /me: expected 200, got 401"))
    assert (plain.expected, plain.got) == ("GET /me: 200", "401")


def test_rule_text_is_the_heading_and_the_contracts_words():
    lines = failures.rule_text("HARD-NO-STORE")
    assert lines[0] == "--- rule HARD-NO-STORE (hardening): Authenticated responses are not cached ---"
    assert "\n".join(lines[1:]) == rules.RULES["HARD-NO-STORE"].text
