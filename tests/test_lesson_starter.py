"""examples/lesson-starter: the lesson's server with the lesson's revoke-all bug, and what the lesson runner says of it.

Today the runner passes the basics and Exercises 1 and 2 and stops at
Exercise 3 with the hint that names the bug; with solution.patch applied
(in a copy) every step passes and the runner exits 0. The runner's output
shown in the starter's README is checked against a fresh run, once the
parts that differ on every run (addresses, ids, times) are set aside.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conformance import diagnoses
from conformance.lesson import BASICS, EX1, EX2, STEPS

from conformance.server_process import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
STARTER = ROOT / "examples" / "lesson-starter"
README = STARTER / "README.md"
TRANSCRIPT_MARK = "<!-- transcript: the runner against the starter, checked by tests/test_lesson_starter.py -->"


@contextmanager
def starter(server: Path, workdir: Path) -> Iterator[str]:
    """Start the starter's server.py (python server.py --port 0) as a student does; yield its base URL."""
    argv = [sys.executable, server, "--port", "0", "--scrypt-n", "1024"]
    with ServerProcess(argv, name="the lesson starter", cwd=workdir, stderr=workdir / "starter-stderr.log") as process:
        yield process.url


def lesson(url: str) -> subprocess.CompletedProcess[str]:
    """Run the lesson as the README says, without colours."""
    return subprocess.run(
        [sys.executable, "-m", "conformance", "lesson", "--base-url", url, "--no-color"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def today(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """The lesson runner against the starter as it is, run once for the tests that read what it said."""
    with starter(STARTER / "server.py", tmp_path_factory.mktemp("starter")) as url:
        return lesson(url)


def test_today_exercise_3_fails_with_the_hint_that_names_the_lessons_bug(today):
    run = today
    out = run.stdout
    assert run.returncode == 1, out + run.stderr
    assert "\033[" not in out, "colours only on a terminal"
    before_exercise_3 = [step for step in STEPS if step.part in (BASICS, EX1, EX2)]
    assert out.count("PASSED") == len(before_exercise_3) and out.count("FAILED") == 1, out
    shown, not_yet = out.split("What you have shown:")[1].split("Not yet:")
    assert "Exercise 1" in shown and "Exercise 2" in shown and "Exercise 3" not in shown
    assert "Exercise 3: sign out everywhere else" in not_yet
    hint = flat(diagnoses.SECOND_COPY.for_student)
    assert f"Likely cause: {hint}" in flat(out)
    assert "deletes the rows first and then reads the list, now empty" in hint


def test_solution_patch_is_two_lines_and_makes_every_step_pass(tmp_path):
    patch = (STARTER / "solution.patch").read_text()
    changed = [line for line in patch.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert len(changed) == 2, changed
    copy = tmp_path / "examples" / "lesson-starter"
    copy.mkdir(parents=True)
    shutil.copy(STARTER / "server.py", copy / "server.py")
    subprocess.run(["git", "apply", str(STARTER / "solution.patch")], cwd=tmp_path, check=True)
    with starter(copy / "server.py", tmp_path) as url:
        run = lesson(url)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "FAILED" not in run.stdout and "Every step of the lesson passed." in run.stdout


# What differs on every run: the port, the accounts, ids, times and how many devices came before.
VARIABLE = [
    (re.compile(r"http://127\.0\.0\.1:\d+"), "http://127.0.0.1:PORT"),
    (re.compile(r"conf-[0-9a-f]{16}@example\.com"), "EMAIL"),
    (re.compile(r"pw-[A-Za-z0-9_-]{16}"), "PASSWORD"),
    (re.compile(r"\"id\": \d+"), '"id": ID'),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"), "TIME"),
    (re.compile(r"\b([a-z]+-[a-z]+)-\d+\.txt"), r"\1-N.txt"),
]


def normalized(text: str) -> list[str]:
    for pattern, replacement in VARIABLE:
        text = pattern.sub(replacement, text)
    return [line.rstrip() for line in text.strip().splitlines()]


def readme_transcript() -> str:
    text = README.read_text(encoding="utf-8")
    after = text.split(TRANSCRIPT_MARK, 1)[1]
    block = re.search(r"```console\n(.*?)```", after, re.S)
    assert block, "no ```console block after the transcript mark"
    lines = block.group(1).splitlines()
    assert lines[0].startswith("$ "), lines[0]
    return "\n".join(lines[1:])


def test_readme_transcript_is_what_the_runner_prints(today):
    fresh, kept = normalized(today.stdout), normalized(readme_transcript())
    assert fresh == kept, (
        "the runner's output differs from the transcript in examples/lesson-starter/README.md; "
        "paste a fresh run there. First difference:\n"
        + next((f"README: {a}\nnow:    {b}" for a, b in zip(kept, fresh) if a != b), f"{len(kept)} vs {len(fresh)} lines")
    )
