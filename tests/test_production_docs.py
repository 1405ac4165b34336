"""docs/production.md's recipes hold: its systemd unit passes `systemd-analyze verify`, and no command needs sudo."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from .servers import ROOT

PAGE = ROOT / "docs" / "production.md"
INSTALLED = "/opt/sessions/.venv/bin/sessions-server"


def unit_text() -> str:
    blocks = re.findall(r"```ini\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    units = [b for b in blocks if "[Service]" in b]
    assert len(units) == 1, "docs/production.md should show one systemd unit"
    return units[0]


def test_the_systemd_unit_passes_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    # The unit names the path a deployment installs to; here, this checkout's
    # own entry point stands in for it, so that verify can find an executable.
    here = os.path.join(os.path.dirname(sys.executable), "sessions-server")
    if not os.access(here, os.X_OK):
        pytest.skip(f"{here} is missing: pip install -e . creates it")
    text = unit_text()
    assert INSTALLED in text
    unit = tmp_path / "sessions.service"
    unit.write_text(text.replace(INSTALLED, here))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=120)
    # verify also reports on unrelated units of the host it runs on: keep ours.
    ours = [line for line in (result.stdout + result.stderr).splitlines() if "sessions.service" in line]
    assert result.returncode == 0 and ours == [], result.stdout + result.stderr


def test_the_unit_starts_the_installed_server_and_stops_it_with_sigterm():
    text = unit_text()
    assert re.search(rf"^ExecStart={re.escape(INSTALLED)}$", text, re.M)
    assert re.search(r"^KillMode=mixed$", text, re.M) and re.search(r"^Restart=on-failure$", text, re.M)


def test_no_command_in_the_production_guide_needs_sudo():
    assert not re.search(r"(^|[\s`(])sudo\s", re.sub(r"not sudo", "", PAGE.read_text(encoding="utf-8")))
