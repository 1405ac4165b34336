"""The documentation holds together: every relative link resolves, every command the README shows exists.

Links are checked in every Markdown file of the repository (not in the
virtual environment or other installed or generated folders): a link to a
file must name a file or folder that exists, and a `#fragment` must name a
heading of its target, spelt as GitHub makes heading anchors. The README's
commands are its ```sh lines and its inline code that starts a program: the
program must exist, a `python -m` module must be importable, a script must
be in the repository, and an option given to run_server.py must be one it
has. A path the README names (`impl/app.py`, `tests/BROKEN_SERVERS.md`) must
exist too.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
from pathlib import Path

import pytest

from impl.serve import build_parser

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".pytest_cache", "build", "dist"}
LINK = re.compile(r"(?<!\!)\[(?:[^\]]|\][^(])*?\]\((?P<target>[^)\s]+)\)|!\[[^\]]*\]\((?P<image>[^)\s]+)\)")
FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
# Programs the README may run that are not files of the repository.
VENV_PROGRAMS = {"python", "pip", "sessions-server", "sessions-conformance"}


def markdown_files() -> list[Path]:
    found = []
    for path in sorted(ROOT.rglob("*.md")):
        parts = path.relative_to(ROOT).parts[:-1]
        if not any(part in SKIPPED_DIRS or part.endswith(".egg-info") for part in parts):
            found.append(path)
    return found


def without_code_blocks(text: str) -> str:
    """The text with fenced blocks blanked out (keeping line numbers): a link in an example is not a link."""
    return FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown file."""
    slugs: set[str] = set()
    for line in without_code_blocks(path.read_text(encoding="utf-8")).splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
            n, candidate = 0, slug
            while candidate in slugs:
                n += 1
                candidate = f"{slug}-{n}"
            slugs.add(candidate)
    return slugs


def link_problems(path: Path, root: Path = ROOT) -> list[str]:
    """Return a line per link of a Markdown file that points at no file, or at no heading of its file."""
    problems = []
    text = without_code_blocks(path.read_text(encoding="utf-8"))
    for match in LINK.finditer(text):
        target = match.group("target") or match.group("image")
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        where = f"{path.relative_to(root)} line {text.count(chr(10), 0, match.start()) + 1}: {target}"
        file_part, _, fragment = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            problems.append(f"{where}: no such file")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            problems.append(f"{where}: no heading #{fragment} in {resolved.name}")
    return problems


def test_the_docs_are_found():
    names = {str(path.relative_to(ROOT)) for path in markdown_files()}
    assert {"README.md", "docs/tutorial.md", "conformance/README.md", "bench/README.md"} <= names
    assert not any(name.startswith(".venv") for name in names)


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path: Path):
    assert link_problems(path) == []


def test_a_broken_link_or_anchor_is_caught(tmp_path):
    page = ROOT / "docs" / "tutorial.md"
    broken = tmp_path / "page.md"
    broken.write_text("# Title\n\n[gone](nowhere.md) [bad anchor](#no-such-heading) [good](#title)\n")
    assert len(link_problems(broken, tmp_path)) == 2
    assert "the-lessons-exercises" in anchors(page)


def readme_commands() -> list[str]:
    """The commands the README shows: its ```sh lines (split at &&) and inline code that runs a program."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for match in FENCE.finditer(text):
        if match.group("info").strip() in ("sh", "console"):
            for line in match.group("body").splitlines():
                line = line.removeprefix("$ ").strip()
                if line and not line.startswith("#"):
                    commands += [part.strip() for part in line.split("&&")]
    for span in CODE_SPAN.findall(without_code_blocks(text)):
        words = span.split()
        if words and (words[0] in ("python", "python3", ".ci/run") or words[0].endswith((".py", "/python"))):
            if len(words) > 1 or words[0] in (".ci/run", "run_server.py"):
                commands.append(span)
    return commands


def command_problems(command: str) -> list[str]:
    words = shlex.split(command)
    program, args = words[0], words[1:]
    problems = []
    if program.startswith(".venv/bin/"):
        if Path(program).name not in VENV_PROGRAMS:
            problems.append(f"{command}: {program} is not installed by the README's commands")
    elif program.endswith(".py") or "/" in program:
        if not (ROOT / program).is_file():
            problems.append(f"{command}: {program} is not in the repository")
        args = [program, *args]
    elif shutil.which(program) is None and program not in VENV_PROGRAMS:
        problems.append(f"{command}: no program {program}")
    if Path(program).name.startswith("python") or program.endswith(".py"):
        if args[:1] == ["-m"] and len(args) > 1:
            if importlib.util.find_spec(args[1]) is None:
                problems.append(f"{command}: no module {args[1]}")
        elif args and args[0].endswith(".py") and not (ROOT / args[0]).is_file():
            problems.append(f"{command}: {args[0]} is not in the repository")
        if args and args[0].endswith("run_server.py"):
            known = {option for action in build_parser()._actions for option in action.option_strings}
            problems += [f"{command}: run_server.py has no {word}" for word in args[1:] if word.startswith("--")
                         and word.split("=")[0] not in known]  # fmt: skip
    return problems


def test_every_command_the_readme_shows_exists():
    commands = readme_commands()
    assert any("run_server.py" in command for command in commands)
    assert any("-m pytest" in command for command in commands)
    assert [problem for command in commands for problem in command_problems(command)] == []


@pytest.mark.parametrize(
    "command",
    [".venv/bin/python run_server.py --no-such-flag", ".venv/bin/python -m no_such_module",
     ".venv/bin/python bench/no_such_script.py", "no-such-program --help", ".venv/bin/nothing"],
)  # fmt: skip
def test_a_command_that_does_not_exist_is_caught(command):
    assert command_problems(command) != []


def test_every_path_the_readme_names_exists():
    text = without_code_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    paths = [
        span for span in CODE_SPAN.findall(text)
        if "/" in span and " " not in span and not span.startswith(("/", "~", "$", "http", "-", "."))
        and "://" not in span and "*" not in span and "{" not in span
    ]  # fmt: skip
    assert "impl/app.py" in paths
    assert [path for path in paths if not (ROOT / path).exists()] == []


def test_the_settings_table_is_the_one_the_declarations_make():
    from tools.settings_table import BEGIN, END, PAGE, render_table

    text = PAGE.read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    shown = text.split(BEGIN + "\n", 1)[1].split("\n" + END, 1)[0]
    assert shown == render_table(), "docs/production.md's settings table is stale: .venv/bin/python -m tools.settings_table"
