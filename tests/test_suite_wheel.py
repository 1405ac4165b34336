"""The suite installs alone: its wheel, in a fresh virtual environment, checks the Node server.

The suite is its own distribution, `sessions-conformance` (conformance/pyproject.toml):
an implementer who only wants to check their server gets pytest, requests and
jsonschema, and none of the reference server's dependencies. This test builds
the wheel from a copy of conformance/ (so the checkout gets no build/ folder),
installs it into a new virtual environment, checks what came along, and runs
its console script, from a directory outside the repository with no
PYTHONPATH, against examples/node-server.

Dependencies come from pip's configured index (PyPI, or a local mirror).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance import rules
from conformance.server_process import ServerProcess

from .test_suite_other_language import NODE, SCRYPT_COST, SERVER, TOUCH_INTERVAL

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "conformance"
# What the reference server needs and the suite must not bring along.
SERVER_ONLY = {"granian", "bottle", "ua-parser", "ua-parser-builtins", "ua-parser-rs", "playwright"}
SUITE_NEEDS = {"sessions-conformance", "pytest", "requests", "jsonschema"}
STEP_TIMEOUT = 300

needs_node = pytest.mark.skipif(NODE is None, reason="node is not on PATH: cannot run examples/node-server")


def _pip(*args: str, python: Path | None = None) -> subprocess.CompletedProcess[str]:
    # The running interpreter's pip drives the fresh venv (--python), so the
    # venv is made without pip of its own: a second faster, no download.
    target = ["--python", str(python)] if python else []
    command = [sys.executable, "-m", "pip", *target, *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=STEP_TIMEOUT)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the suite's wheel and install it into a new virtual environment; return the venv's folder."""
    work = tmp_path_factory.mktemp("suite-wheel")
    source = work / "src" / "conformance"
    shutil.copytree(SUITE, source, ignore=shutil.ignore_patterns("__pycache__", "build", "dist", "*.egg-info"))
    _pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(work / "dist"), str(source))
    [wheel] = (work / "dist").glob("sessions_conformance-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=STEP_TIMEOUT)
    _pip("install", "--quiet", str(wheel), python=venv / "bin" / "python")
    return venv


def _installed(venv: Path) -> set[str]:
    listed = json.loads(_pip("list", "--format", "json", python=venv / "bin" / "python").stdout)
    return {item["name"].lower().replace("_", "-") for item in listed}


@pytest.fixture(scope="module")
def node_url() -> Iterator[str]:
    command = [NODE, SERVER, "--port", "0", "--touch-interval", TOUCH_INTERVAL, "--scrypt-cost", SCRYPT_COST]
    with ServerProcess(command, name="the Node server", start_timeout=10.0) as server:
        yield server.url


def test_wheel_brings_the_suite_and_its_three_dependencies(fresh_venv):
    installed = _installed(fresh_venv)
    assert SUITE_NEEDS <= installed, sorted(installed)


def test_wheel_brings_none_of_the_servers_dependencies(fresh_venv):
    assert _installed(fresh_venv) & SERVER_ONLY == set()


@needs_node
def test_installed_suite_runs_alone_against_the_node_server(fresh_venv, node_url, tmp_path):
    report = tmp_path / "report.json"
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "CONFORMANCE_BASE_URL")}
    result = subprocess.run(
        [
            str(fresh_venv / "bin" / "sessions-conformance"),
            "--base-url", node_url,
            "--touch-interval", TOUCH_INTERVAL,
            "--json-report", str(report),
        ],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT,
    )  # fmt: skip
    output = (result.stdout + result.stderr)[-4000:]
    assert result.returncode == 0, output
    outcomes: dict[str, Any] = {rule["id"]: rule["outcome"] for rule in json.loads(report.read_text())["rules"]}
    core = [rule_id for rule_id in rules.RULES if rules.level_of(rule_id) == rules.CORE]
    assert {rule_id: outcomes.get(rule_id) for rule_id in core} == dict.fromkeys(core, "pass"), output
    # The suite ran from the wheel, not from this checkout, and without the reference server.
    where = subprocess.run(
        [str(fresh_venv / "bin" / "python"), "-c", "import conformance, importlib.util as u; "
         "print(conformance.__file__); print(u.find_spec('impl') is None)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    file, no_impl = where.stdout.split()
    assert Path(file).is_relative_to(fresh_venv) and no_impl == "True", where.stdout + where.stderr


def _readme_test_command() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("Run all the tests", 1)[1].split("```sh\n", 1)[1].split("\n```", 1)[0]
    return block.strip()


def test_ci_runs_the_readmes_test_command_word_for_word():
    command = _readme_test_command()
    assert "-e ./conformance" in command, "the README's test command must install the suite's distribution"
    ci = [line for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines() if line and line[0] != "#"]
    assert ci[-1] == command
