"""The tutorial's walkthrough of the lesson's exercises, run word for word against a fresh server.

The commands are read from docs/tutorial.md at test time, never copied here, so
the tutorial cannot drift from what the server does. The convention, in the
section "The lesson's exercises":

- The ```console block whose `$ ` line runs `run_server.py` is how the
  reader starts the server. The test starts it with the same arguments,
  plus its own (`--port 0`, a temporary `--db`, cheap scrypt), which win.
- Every ```sh block is one command the reader types. It is run with `sh -c`
  in a scratch folder (where the cookie files land), with
  `http://localhost:3000` replaced by the test server's URL.
- The fenced block right after it is what the command printed:
  ```json: the output is JSON of the same shape: the same keys, lists of
  the same length, the same values, except the values that differ on every
  run (see VOLATILE), which need only have the same form.
  ```text: line by line; a line "BODY STATUS" (as `curl -w ' %{http_code}\n'`
  prints it) compares BODY as above and STATUS exactly.
- An id the the tutorial shows, and the reader would copy from their own output
  into a later command, is mapped to the id this run got, and replaced in
  the later commands. A session id shown again as a security-log event's
  `sessionId` or `actorSessionId` must be the same session again. Event ids
  (short, opaque) are compared by form only and never substituted: "7"
  replaced in a command would also change "127.0.0.1".

The section "Beyond the lesson" (the extensions) follows the same
convention, without a server command of its own: its commands run right
after the exercises', on the same server, with the same cookie files.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .servers import ROOT, running_server

TUTORIAL = ROOT / "docs" / "tutorial.md"
SECTION = "## The lesson's exercises"
BEYOND = "## Beyond the lesson"
TUTORIAL_URL = "http://localhost:3000"
# Values that differ on every run: only their form is compared.
ID_RE = re.compile(r"[A-Za-z0-9_-]{16,}")
TIME_RE = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?")
# An event id (EXT-ACTIVITY) is an opaque string: any non-empty token.
EVENT_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
VOLATILE = {
    "id": ID_RE,
    "lastActiveAt": TIME_RE,
    "createdAt": TIME_RE,
    "at": TIME_RE,
    "sessionId": ID_RE,
    "actorSessionId": ID_RE,
}
# Keys whose values are ids the comparison learns and holds to.
LEARNED = {"id", "sessionId", "actorSessionId"}
STATUS_LINE = re.compile(r"(?P<body>.*) (?P<status>\d{3})")
FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@dataclass
class Step:
    """One command of the walkthrough and the output the the tutorial shows for it."""

    command: str
    kind: str  # "json" or "text"
    shown: str
    line: int  # in docs/tutorial.md, for failure messages


@dataclass
class Walkthrough:
    server_args: list[str]
    steps: list[Step]


def section(text: str, title: str = SECTION) -> tuple[str, int]:
    """Return a section of the tutorial (the exercises unless told) and the line it starts on."""
    start = text.find("\n" + title + "\n")
    if start < 0:
        raise AssertionError(f"docs/tutorial.md has no section {title!r}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)], text.count("\n", 0, start) + 1


def parse_walkthrough(text: str, title: str = SECTION) -> Walkthrough:
    """Read the server command and the command/output pairs out of a section of the tutorial's text.

    The exercises must start the server; a later section ("Beyond the
    lesson") has no server command and runs on the exercises' server.
    """
    body, first_line = section(text, title)
    blocks = [
        (m.group("info").strip(), m.group("body"), first_line + body.count("\n", 0, m.start()))
        for m in FENCE.finditer(body)
    ]
    server_args: list[str] | None = None
    steps: list[Step] = []
    i = 0
    while i < len(blocks):
        info, content, line = blocks[i]
        if info == "console" and server_args is None:
            for prompt in (ln for ln in content.splitlines() if ln.startswith("$ ") and "run_server.py" in ln):
                # The arguments only, split as the shell would but never run
                # through one: the test's own --db replaces "$(mktemp -d)/...".
                server_args = shlex.split(prompt.split("run_server.py", 1)[1])
        elif info == "sh":
            if i + 1 >= len(blocks) or blocks[i + 1][0] not in ("json", "text"):
                raise AssertionError(f"docs/tutorial.md line {line}: a ```sh block must be followed by its output (```json or ```text)")
            steps.append(Step(content.strip(), blocks[i + 1][0], blocks[i + 1][1], line))
            i += 1
        i += 1
    if server_args is None:
        if title != SECTION:
            return Walkthrough([], steps)
        raise AssertionError("docs/tutorial.md: no ```console block with `$ ... run_server.py ...` in the exercises section")
    return Walkthrough(server_args, steps)


@dataclass
class Comparison:
    """Compares shown output with actual output, learning which shown id is which actual id."""

    ids: dict[str, str] = field(default_factory=dict)

    def substitute(self, command: str) -> str:
        for shown, actual in self.ids.items():
            command = command.replace(shown, actual)
        return command

    def json_shape(self, shown: Any, actual: Any, where: str = "$") -> list[str]:
        """Return the differences between two JSON values, ignoring what changes per run."""
        if type(shown) is not type(actual):
            return [f"{where}: the tutorial shows {shown!r}, got {actual!r}"]
        if isinstance(shown, dict):
            if set(shown) != set(actual):
                return [f"{where}: the tutorial shows keys {sorted(shown)}, got {sorted(actual)}"]
            problems = []
            for key in shown:
                if key in VOLATILE and isinstance(shown[key], str):
                    # An id shown in a session id's form is one; any other is an event's.
                    form = VOLATILE[key] if key != "id" or ID_RE.fullmatch(shown[key]) else EVENT_ID_RE
                    if not isinstance(actual[key], str) or not form.fullmatch(actual[key]):
                        problems.append(f"{where}.{key}: {actual[key]!r} is not of the form of {shown[key]!r}")
                    elif key in LEARNED and form is ID_RE:
                        problems += self._learn(shown[key], actual[key], f"{where}.{key}")
                else:
                    problems += self.json_shape(shown[key], actual[key], f"{where}.{key}")
            return problems
        if isinstance(shown, list):
            if len(shown) != len(actual):
                return [f"{where}: the tutorial shows {len(shown)} elements, got {len(actual)}"]
            return [p for n, (s, a) in enumerate(zip(shown, actual)) for p in self.json_shape(s, a, f"{where}[{n}]")]
        return [] if shown == actual else [f"{where}: the tutorial shows {shown!r}, got {actual!r}"]

    def _learn(self, shown: str, actual: str, where: str) -> list[str]:
        known = self.ids.setdefault(shown, actual)
        return [] if known == actual else [f"{where}: tutorial's {shown} was {known} before, now {actual}"]

    def json_text(self, shown: str, actual: str, where: str) -> list[str]:
        try:
            shown_value = json.loads(shown)
        except ValueError:
            return [f"{where}: the tutorial shows invalid JSON {shown!r}"]
        try:
            actual_value = json.loads(actual)
        except ValueError:
            return [f"{where}: the tutorial shows JSON, got {actual!r}"]
        return self.json_shape(shown_value, actual_value, where)

    def text(self, shown: str, actual: str) -> list[str]:
        shown_lines, actual_lines = shown.strip("\n").splitlines(), actual.strip("\n").splitlines()
        if len(shown_lines) != len(actual_lines):
            return [f"the tutorial shows {len(shown_lines)} lines, got {len(actual_lines)}: {actual!r}"]
        problems = []
        for n, (s, a) in enumerate(zip(shown_lines, actual_lines), 1):
            s_status, a_status = STATUS_LINE.fullmatch(s), STATUS_LINE.fullmatch(a)
            if s_status and a_status and s_status["body"].startswith(("{", "[")):
                if s_status["status"] != a_status["status"]:
                    problems.append(f"line {n}: the tutorial shows status {s_status['status']}, got {a_status['status']}")
                problems += self.json_text(s_status["body"], a_status["body"], f"line {n}")
            elif s.startswith(("{", "[")):
                problems += self.json_text(s, a, f"line {n}")
            elif s != a:
                problems.append(f"line {n}: the tutorial shows {s!r}, got {a!r}")
        return problems

    def check(self, step: Step, output: str) -> list[str]:
        if step.kind == "json":
            return self.json_text(step.shown, output, "$")
        return self.text(step.shown, output)


def shell_env(workdir: Path) -> dict[str, str]:
    """The reader's shell, minus what could change curl's answers: no ~/.curlrc, no proxy."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    # `python3` in the tutorial is the reader's; here, this interpreter.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["HOME"] = env["CURL_HOME"] = str(workdir)
    return env


def test_tutorial_walkthrough_follows_the_convention():
    walk = parse_walkthrough(TUTORIAL.read_text())
    # Its only option, --db, gives way to the test's own database (parse_walkthrough drops it).
    assert "$ .venv/bin/python run_server.py --db " in section(TUTORIAL.read_text())[0], (
        "the tutorial starts the server on a new database of the reader's own"
    )
    assert len(walk.steps) >= 10
    for step in walk.steps:
        assert TUTORIAL_URL in step.command, f"docs/tutorial.md line {step.line}: the command should use {TUTORIAL_URL}"
        assert step.command.startswith("curl "), f"docs/tutorial.md line {step.line}: {step.command!r}"
    commands = "\n".join(step.command for step in walk.steps)
    for needed in ("-c laptop.txt", "-c phone.txt", "-c tablet.txt", "-A ", "-X DELETE", "/me/sessions/revoke-all"):
        assert needed in commands


def test_tutorial_beyond_the_lesson_follows_the_convention():
    """Curl for rename, password change, the log, and a 401 with its reason (EXT-RENAME, -PASSWORD, -ACTIVITY, -REASON)."""
    beyond = parse_walkthrough(TUTORIAL.read_text(), BEYOND)
    assert beyond.server_args == [], "Beyond the lesson runs on the exercises' server"
    assert len(beyond.steps) >= 5
    for step in beyond.steps:
        assert TUTORIAL_URL in step.command, f"docs/tutorial.md line {step.line}: the command should use {TUTORIAL_URL}"
        assert step.command.startswith("curl "), f"docs/tutorial.md line {step.line}: {step.command!r}"
    commands = "\n".join(step.command for step in beyond.steps)
    for needed in ("-X PATCH http://localhost:3000/me/sessions/", "/me/password", "-c laptop.txt", "/me/activity"):
        assert needed in commands, needed
    shown = "\n".join(step.shown for step in beyond.steps)
    assert re.search(r'"reason":"[a-z_]+"\} 401', shown), "a 401 with its reason"
    assert '"type": "password_changed"' in shown and '"name": "Study laptop"' in shown


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed: the walkthrough is curl commands")
def test_tutorial_walkthrough_answers_as_shown(tmp_path):
    """Every command of the exercises, then of "Beyond the lesson", in order; each answer of the shape shown."""
    text = TUTORIAL.read_text()
    walk = parse_walkthrough(text)
    walk.steps += parse_walkthrough(text, BEYOND).steps
    compare = Comparison()
    workdir = tmp_path / "reader"
    workdir.mkdir()
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    # The shell would expand "$(mktemp -d)"; the test runs none, and running_server gives its own --db.
    shown = walk.server_args
    server_args = [arg for i, arg in enumerate(shown) if "--db" not in (arg, shown[i - 1] if i else "")]
    with running_server(server_dir, server_args) as url:
        for step in walk.steps:
            command = compare.substitute(step.command).replace(TUTORIAL_URL, url)
            done = subprocess.run(
                ["sh", "-c", command], cwd=workdir, env=shell_env(workdir),
                capture_output=True, text=True, timeout=30,
            )
            context = f"docs/tutorial.md line {step.line}:\n$ {command}\n{done.stdout}{done.stderr}"
            assert done.returncode == 0, context
            problems = compare.check(step, done.stdout)
            assert not problems, context + "\n" + "\n".join(problems)
    # The revoke command used an id the reader copied from an earlier answer.
    assert any(shown in step.command for step in walk.steps for shown in compare.ids)


# The comparison itself: what it lets through and what it catches.

SHOWN_LIST = '[{"id": "yYWu3TUD-2VrX18b5DNnJg", "deviceName": "Firefox on Windows", "ip": "127.0.0.1", ' \
    '"lastActiveAt": "2026-11-27T02:28:00Z", "createdAt": "2026-11-27T02:28:00Z", "isCurrent": true}]'


def test_comparison_accepts_other_ids_and_times_and_learns_the_ids():
    compare = Comparison()
    actual = SHOWN_LIST.replace("yYWu3TUD-2VrX18b5DNnJg", "0123456789abcdefABCD_-").replace("02:28:00", "13:01:59")
    assert compare.json_text(SHOWN_LIST, actual, "$") == []
    assert compare.substitute("curl -X DELETE .../me/sessions/yYWu3TUD-2VrX18b5DNnJg") == (
        "curl -X DELETE .../me/sessions/0123456789abcdefABCD_-"
    )


@pytest.mark.parametrize(
    "actual",
    [
        SHOWN_LIST.replace('"isCurrent": true', '"isCurrent": false'),
        SHOWN_LIST.replace("Firefox on Windows", "Firefox on Linux"),
        SHOWN_LIST.replace('"ip"', '"address"'),
        SHOWN_LIST.replace("}]", ', "token": "x"}]'),
        SHOWN_LIST.replace("[{", "[{}, {"),
        SHOWN_LIST.replace("2026-11-27T02:28:00Z", "yesterday"),
        SHOWN_LIST.replace('"isCurrent": true', '"isCurrent": 1'),  # True == 1 in Python; not in JSON
        "[]",
        '{"error": "Not authenticated."}',
        "<html>",
    ],
)
def test_comparison_catches_a_different_answer(actual):
    assert Comparison().json_text(SHOWN_LIST, actual, "$") != []


SHOWN_EVENT = '{"id": "7", "type": "session_renamed", "at": "2026-11-27T02:28:51Z", ' \
    '"sessionId": "4rIj4ZEir626XY-1E6-eBw", "actorSessionId": "4rIj4ZEir626XY-1E6-eBw"}'


def test_comparison_holds_a_log_to_the_sessions_it_learned():
    compare = Comparison()
    assert compare.json_text('{"id": "4rIj4ZEir626XY-1E6-eBw"}', '{"id": "AAAAAAAAAAAAAAAAAAAAAA"}', "$") == []
    same = SHOWN_EVENT.replace("4rIj4ZEir626XY-1E6-eBw", "AAAAAAAAAAAAAAAAAAAAAA").replace('"7"', '"1234"')
    assert compare.json_text(SHOWN_EVENT, same, "$") == []
    other = SHOWN_EVENT.replace("4rIj4ZEir626XY-1E6-eBw", "BBBBBBBBBBBBBBBBBBBBBB")
    assert compare.json_text(SHOWN_EVENT, other, "$") != []
    # Event ids are never learned: substituting "7" would rewrite 127.0.0.1.
    assert compare.substitute("curl http://127.0.0.1:3000/") == "curl http://127.0.0.1:3000/"


@pytest.mark.parametrize(
    "actual",
    [
        SHOWN_EVENT.replace('"7"', '""'),
        SHOWN_EVENT.replace('"7"', "7"),
        SHOWN_EVENT.replace("2026-11-27T02:28:51Z", "now"),
        SHOWN_EVENT.replace('"actorSessionId": "4rIj4ZEir626XY-1E6-eBw"', '"actorSessionId": null'),
        SHOWN_EVENT.replace("session_renamed", "session_revoked"),
    ],
)
def test_comparison_catches_a_different_event(actual):
    assert Comparison().json_text(SHOWN_EVENT, actual, "$") != []


@pytest.mark.parametrize(
    ("shown", "actual", "same"),
    [
        ('{"error":"Not authenticated."} 401', '{"error":"Not authenticated."} 401', True),
        ('{"id":"R38fczNMqLE0wFLg5dx6Uw","email":"a@b.c"} 200', '{"id":"Zx8fczNMqLE0wFLg5dx6U_","email":"a@b.c"} 200', True),
        ('{"error":"Not authenticated."} 401', '{"error":"Not authenticated."} 403', False),
        ('{"error":"Not authenticated."} 401', '{"id":"R38fczNMqLE0wFLg5dx6Uw","email":"a@b.c"} 200', False),
        ("listening", "listening\nmore", False),
    ],
)
def test_comparison_of_text_checks_status_and_body(shown, actual, same):
    assert (Comparison().text(shown, actual) == []) is same
