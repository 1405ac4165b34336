"""--start-reference: the reference server (python -m impl), started on a free port with a throw-away database.

It runs with `--scrypt-n 1024` only to keep the self-started run fast: the
password-hashing cost is not something any rule checks.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from conformance.options import ENV_BASE_URL
from conformance.server_process import ServerProcess, ServerStartError

# The reference server is started from the directory holding both packages.
REPO_ROOT = Path(__file__).resolve().parent.parent
SERVER_START_TIMEOUT = 20.0
# When the suite starts the reference itself it knows its refresh interval; one
# second keeps the CORE-LAST-ACTIVE and ordering checks to a couple of seconds.
SELF_STARTED_TOUCH_INTERVAL = 1.0

__all__ = ["ReferenceServer", "ServerStartError", "touch_interval_for"]


def touch_interval_for(option: Any) -> float:
    """The refresh interval to start the reference with: the declared one, else short enough for the checks."""
    if option.touch_interval is not None:
        return option.touch_interval
    if option.idle_timeout is not None:
        return min(SELF_STARTED_TOUCH_INTERVAL, option.idle_timeout / 2)
    return SELF_STARTED_TOUCH_INTERVAL


class ReferenceServer:
    """The reference server in a child process, configured as the options declare."""

    def __init__(self, option: Any, touch_interval: float) -> None:
        self.tmpdir = tempfile.TemporaryDirectory(prefix="conformance-")
        args = [
            sys.executable, "-m", "impl",
            "--host", "127.0.0.1",
            "--port", "0",
            "--db", os.path.join(self.tmpdir.name, "sessions.db"),
            "--touch-interval", f"{touch_interval:g}",
            "--scrypt-n", "1024",
        ]  # fmt: skip
        if option.idle_timeout is not None:
            args += ["--idle-timeout", f"{option.idle_timeout:g}"]
        if option.absolute_timeout is not None:
            args += ["--absolute-timeout", f"{option.absolute_timeout:g}"]
        if option.https:
            # Plain HTTP on the wire, but configured as if behind a TLS proxy:
            # Secure cookies and an https:// own origin, as --https declares.
            args.append("--https-cookies")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        self.server = ServerProcess(
            args,
            name="the reference server",
            cwd=REPO_ROOT,
            env=env,
            start_timeout=SERVER_START_TIMEOUT,
            stop_timeout=5,
        )

    def start(self) -> str:
        """Start the server and return its URL; raise ServerStartError (saying what it printed) if it does not listen."""
        try:
            return self.server.start()
        except ServerStartError as exc:
            raise ServerStartError(
                f"--start-reference: {exc}\nTo check another server pass --base-url URL or set {ENV_BASE_URL}"
            ) from None

    def stop(self) -> None:
        """Stop the server (terminate, then kill after 5 s) and remove its database."""
        self.server.stop()
        self.tmpdir.cleanup()
