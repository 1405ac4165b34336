"""sessions-backup: a copy taken while the server runs and writes holds every change acknowledged before it began.

Four clients sign up and log in as fast as they can against a two-worker
server; meanwhile the backup command runs. The copy is then restored, as
docs/production.md says (put in place, server started on it), and every
login acknowledged before the backup began must work there, with its login
event in the account's activity.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
import uuid

import requests

from .servers import ROOT, running_server

PASSWORD = "correct horse battery"


def test_a_backup_under_write_load_restores_every_acknowledged_login_and_event(tmp_path):
    live = tmp_path / "live"
    restored = tmp_path / "restored"
    live.mkdir()
    restored.mkdir()
    acknowledged: list[tuple[float, str, str]] = []  # (when, email, token)
    stop = threading.Event()

    def client(url: str) -> None:
        while not stop.is_set():
            email = f"backup-{uuid.uuid4().hex[:12]}@example.com"
            web = requests.Session()
            if web.post(f"{url}/signup", json={"email": email, "password": PASSWORD}).status_code != 201:
                continue
            for _ in range(2):
                device = requests.Session()
                if device.post(f"{url}/login", json={"email": email, "password": PASSWORD}).status_code == 200:
                    acknowledged.append((time.monotonic(), email, device.cookies["session"]))

    with running_server(live, workers=2) as url:
        clients = [threading.Thread(target=client, args=(url,)) for _ in range(4)]
        for t in clients:
            t.start()
        try:
            while len(acknowledged) < 40:
                time.sleep(0.05)
            began = time.monotonic()
            result = subprocess.run([sys.executable, "-m", "impl.backup", "--db", str(live / "s.db"),
                                     str(tmp_path / "copy.db")], capture_output=True, text=True, timeout=120,
                                    cwd=ROOT)
            written_during = len(acknowledged)
            time.sleep(0.3)  # writes go on after it, too
        finally:
            stop.set()
            for t in clients:
                t.join()
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("backed up ") and "schema version" in result.stdout
    assert len(acknowledged) > written_during  # the server was writing around the backup

    shutil.copy(tmp_path / "copy.db", restored / "s.db")
    before = [(email, token) for when, email, token in acknowledged if when < began]
    assert len(before) >= 40
    logins: dict[str, int] = {}
    with running_server(restored) as url:
        for email, token in before:
            me = requests.get(f"{url}/me", cookies={"session": token})
            assert me.status_code == 200 and me.json()["email"] == email, (email, me.status_code)
            logins[email] = logins.get(email, 0) + 1
        for email, count in logins.items():
            token = next(t for e, t in before if e == email)
            events = requests.get(f"{url}/me/activity", cookies={"session": token}).json()
            assert sum(1 for e in events if e["type"] == "login") >= count, email


def test_backup_refuses_a_postgres_url_pointing_to_pg_dump(tmp_path):
    result = subprocess.run([sys.executable, "-m", "impl.backup", "--db", "postgresql://u:secret@h/db",
                             str(tmp_path / "x.db")], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2 and "pg_dump" in result.stderr and "secret" not in result.stderr


def test_backup_of_a_missing_database_fails_with_one_line_and_writes_nothing(tmp_path):
    result = subprocess.run([sys.executable, "-m", "impl.backup", "--db", str(tmp_path / "none.db"),
                             str(tmp_path / "x.db")], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.db").exists()
