"""Start a server in a child process, wait for its `listening on URL` line, and stop it: the one way to do it.

The convention (the reference's run_server.py, examples/node-server, the
tools' and tests' servers): once a server accepts connections it prints
`listening on http://HOST:PORT` on stdout. `ServerProcess` starts the command,
waits for that line under a deadline and, when it gives up (no line in time,
the process exited, the line never came), raises ServerStartError saying what
the server printed, so a server that never starts fails in seconds with its
own words rather than hanging whoever waits for it. Stopping sends the stop
signal (SIGTERM unless told), waits, then kills (the whole process group when
the server was started in its own session).

Both pipes are drained for the server's whole life, by threads: a full pipe
would block the server. stdout lines after the first stay readable
(`next_line`); stderr goes to a file when one is named, else its last lines
are kept for the error message.

The suite uses it for --start-reference; the project's tests, tools and
benchmarks import it from here (the suite is the package everything may import).
"""

from __future__ import annotations

import collections
import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Mapping, Sequence

LISTENING = "listening on "
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
# How much of what the server printed an error message quotes.
TAIL_LINES = 40


class ServerStartError(RuntimeError):
    """The server did not start listening; the message says why and what it printed."""


class ServerProcess:
    """A server in a child process that says `listening on URL` on stdout once it accepts connections.

    Use it as a context manager (`with ServerProcess(argv) as server: server.url`)
    or call start() and stop() (stop is safe to call twice, and after a failed start).
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: str | None = None,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        stderr: str | os.PathLike[str] | None = None,
        start_timeout: float = START_TIMEOUT,
        stop_signal: int = signal.SIGTERM,
        stop_timeout: float = STOP_TIMEOUT,
        new_session: bool = False,
    ) -> None:
        self.argv = [str(arg) for arg in argv]
        self.name = name or " ".join(self.argv[:3])
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.stderr_path = Path(stderr) if stderr is not None else None
        self.start_timeout = start_timeout
        self.stop_signal = stop_signal
        self.stop_timeout = stop_timeout
        self.new_session = new_session
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._seen: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._stderr_file: IO[bytes] | None = None
        self._pumps: list[threading.Thread] = []
        self._launched = 0.0

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server was not started"
        return self.process.pid

    def __enter__(self) -> "ServerProcess":
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> str:
        """Start the server and return the URL of its `listening on` line; raise ServerStartError if none comes."""
        self.launch()
        return self.wait_listening()

    def launch(self) -> None:
        """Start the process without waiting for it (then wait_listening): to start several at once."""
        if self.stderr_path is not None:
            self._stderr_file = open(self.stderr_path, "wb")
        try:
            self.process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._stderr_file if self._stderr_file is not None else subprocess.PIPE,
                start_new_session=self.new_session,
            )
        except OSError as exc:
            self.stop()
            raise ServerStartError(f"cannot start {self.name}: {exc}") from None
        self._pumps = [threading.Thread(target=self._pump_stdout, daemon=True)]
        if self._stderr_file is None:
            self._pumps.append(threading.Thread(target=self._pump_stderr, daemon=True))
        for pump in self._pumps:
            pump.start()
        self._launched = time.monotonic()

    def wait_listening(self) -> str:
        """Wait for the `listening on URL` line, under the start deadline; return the URL or raise ServerStartError."""
        assert self.process is not None, "launch() first"
        deadline = self._launched + self.start_timeout
        while True:
            line = self.next_line(max(0.0, deadline - time.monotonic()))
            if line is not None and line.startswith(LISTENING):
                self.url = line[len(LISTENING) :].strip()
                return self.url
            if line is None or time.monotonic() >= deadline:
                if time.monotonic() < deadline:
                    # Its output ended: it is exiting, or has closed stdout and lingers.
                    try:
                        self.process.wait(timeout=min(5.0, deadline - time.monotonic()))
                    except subprocess.TimeoutExpired:
                        pass
                if self.process.poll() is not None:
                    why = f"it exited with status {self.process.returncode} before listening"
                elif line is None and time.monotonic() < deadline:
                    why = f"it closed its stdout without a `{LISTENING.strip()}` line"
                else:
                    why = f"it printed no `{LISTENING.strip()}` line within {self.start_timeout:g} s"
                self.stop()
                raise ServerStartError(f"{self.name} did not start: {why}{self.printed()}")

    def next_line(self, timeout: float) -> str | None:
        """Return the server's next stdout line (stripped), or None at end of output or after `timeout` seconds."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            return None
        if line is None:
            self._lines.put(None)  # end of output stays the end for every later reader
        return line

    def printed(self) -> str:
        """Return what the server printed so far (stdout lines read, stderr's last lines), for a message."""
        text = ""
        if self._seen:
            text += "\n--- its stdout ---\n" + "\n".join(self._seen)
        stderr = self._stderr_text()
        if stderr:
            text += "\n--- its stderr (last lines) ---\n" + stderr
        return text or "\n(it printed nothing)"

    def _stderr_text(self) -> str:
        if self.stderr_path is not None:
            try:
                lines = self.stderr_path.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                return ""
            return "\n".join(lines[-TAIL_LINES:]).strip()
        return "\n".join(self._stderr_tail).strip()

    def _pump_stdout(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self._seen.append(line)
            self._lines.put(line.strip())
        self._lines.put(None)

    def _pump_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for raw in self.process.stderr:
            self._stderr_tail.append(raw.decode("utf-8", "replace").rstrip("\r\n"))

    def stop(self) -> None:
        """Stop the server gracefully (the stop signal), kill it if it lingers, and release its pipes."""
        process = self.process
        if process is not None and process.poll() is None:
            try:
                process.send_signal(self.stop_signal)
                process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        if process is not None:
            process.wait()
        # The pumps end at end-of-file; closing a pipe under a reading thread
        # would make it fail instead (and lose what the server printed).
        for pump in self._pumps:
            pump.join(timeout=2)
        if process is not None:
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        if self._stderr_file is not None:
            self._stderr_file.close()
            self._stderr_file = None

    def kill(self) -> None:
        """Kill the server at once (its whole process group, when it has its own session)."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            if self.new_session:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
        except ProcessLookupError:
            pass
        process.wait()
