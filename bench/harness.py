"""The benchmark's machinery: wrk, the server subprocess, memory sampling, single HTTP requests."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)

RUN_SERVER = os.path.join(ROOT, "run_server.py")
WRK_LUA = os.path.join(BENCH, "wrk.lua")
HOST = "127.0.0.1"  # loopback only, always
PASSWORD = "bench-password-1"  # the one account made through HTTP; loopback and a temp database only



def log(message: str) -> None:
    """Progress on stderr, so stdout stays the report."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the load generator -------------------------------------------------------


def find_wrk() -> str:
    """Return the path of wrk, installing Debian's package when missing and root; else exit saying how."""
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk not found: installing Debian's package (apt-get install -y wrk)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
            subprocess.run(cmd, check=False, env=env, stdout=subprocess.DEVNULL)
        path = shutil.which("wrk")
        if path:
            return path
    raise SystemExit("bench: wrk is not installed; install it with `sudo apt-get install -y wrk` and run again.")


def wrk_version(wrk: str) -> str:
    out = subprocess.run([wrk, "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0].split(" Copyright")[0].strip() if out else "wrk (version unknown)"


@dataclass
class Load:
    """Settings of every wrk run, and the servers whose CPU time counts as ours."""

    wrk: str
    duration: float
    connections: int
    threads: int
    servers: list["Server"] = field(default_factory=list)

    def run(self, url: str, script_args: Sequence[str], duration: float | None = None) -> dict[str, Any]:
        """Run wrk once against `url`; return its figures (req/s, latencies in ms, errors)."""
        seconds = self.duration if duration is None else duration
        cmd = [
            self.wrk,
            f"-t{self.threads}",
            f"-c{self.connections}",
            f"-d{seconds:g}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            WRK_LUA,
            url,
            "--",
            *script_args,
        ]
        meter = ForeignCpu(self.servers)
        with meter:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH-JSON ")), None)
        if proc.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
        return {**summarise_wrk(json.loads(line[len("BENCH-JSON ") :])), "foreign_cpu": meter.share}


def summarise_wrk(raw: dict[str, Any]) -> dict[str, Any]:
    """Turn wrk's done() figures (µs) into req/s and milliseconds."""
    seconds = raw["duration_us"] / 1e6
    lat = raw["latency_us"]
    errors = raw["errors"]
    return {
        "rps": raw["requests"] / seconds if seconds else 0.0,
        "requests": raw["requests"],
        "seconds": seconds,
        "p50_ms": lat["p50"] / 1000,
        "p90_ms": lat["p90"] / 1000,
        "p99_ms": lat["p99"] / 1000,
        "max_ms": lat["max"] / 1000,
        "mean_ms": lat["mean"] / 1000,
        # status: answers >= 400; the rest are socket errors and time-outs.
        "errors": {k: v for k, v in errors.items() if v},
    }


class ForeignCpu:
    """Measure the share of the machine's CPU that processes other than ours used during a block.

    Ours: the servers' processes, wrk (a child that has exited by the end)
    and this process. The rest (other users of a shared machine, and a
    virtual machine's steal time) is noise in the figures measured meanwhile.
    """

    def __init__(self, servers: Sequence["Server"]) -> None:
        self.servers = servers
        self.share = 0.0

    def _snapshot(self) -> tuple[float, float, float]:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:9]]
        user, nice, system, idle, iowait, irq, softirq, steal = fields
        tick = os.sysconf("SC_CLK_TCK")
        busy = (user + nice + system + irq + softirq + steal) / tick
        ours = sum(_cpu_seconds(pid, tick) for server in self.servers for pid in server.pids())
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
            usage = resource.getrusage(who)
            ours += usage.ru_utime + usage.ru_stime
        return time.monotonic(), busy, ours

    def __enter__(self) -> "ForeignCpu":
        self._start = self._snapshot()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._snapshot()
        elapsed = end[0] - self._start[0]
        foreign = (end[1] - self._start[1]) - (end[2] - self._start[2])
        cores = len(os.sched_getaffinity(0))
        self.share = max(0.0, foreign / (elapsed * cores)) if elapsed > 0 else 0.0


def _cpu_seconds(pid: int, tick: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / tick  # utime, stime


# -- the server under test ----------------------------------------------------


def server_defaults() -> Any:
    """Return run_server.py's settings as they are without any SESSIONS_* variable (a Config)."""
    from impl.config import Config

    return Config.from_env({})


def process_tree(root: int) -> list[int]:
    """Return `root` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Served:
    """A server under test in a subprocess on a free loopback port: start, stop, its processes, its log.

    Subclasses say how to launch it (`launch`); the rest (readiness, memory
    and CPU accounting, stopping as Ctrl-C would) is shared.
    """

    health_path = "/healthz"

    def __init__(self, name: str, workdir: str) -> None:
        self.name = name
        self.stderr_path = os.path.join(workdir, f"server-{name}.log")
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.peak_rss = 0
        self.peak_phase = ""
        self.processes = 0
        self.phase_peaks: dict[str, int] = {}

    def launch(self) -> tuple[list[str], dict[str, str], str, int | None]:
        """Return (command, environment, cwd, port); port None: the first stdout line says `listening on URL`."""
        raise NotImplementedError

    def start(self, timeout: float = 60) -> None:
        """Start the server and wait until it answers its health path."""
        cmd, env, cwd, port = self.launch()
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                cmd,
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE if port is None else stderr,
                stderr=stderr,
                start_new_session=True,
            )
        if port is None:
            first = _read_line(self.proc, timeout)
            match = re.match(r"listening on (http://\S+)", first or "")
            if not match:
                self.stop()
                raise RuntimeError(f"server {self.name} did not start: {first!r}; see {self.stderr_path}")
            self.url = match.group(1)
        else:
            self.url = f"http://{HOST}:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server {self.name} exited ({self.proc.returncode}); see {self.stderr_path}")
            with contextlib.suppress(OSError, ValueError):
                if request(self.url, "GET", self.health_path)[0] == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server {self.name} never answered {self.health_path}; see {self.stderr_path}")

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid) if self.proc and self.proc.poll() is None else []

    def stop(self) -> None:
        """Stop the server as Ctrl-C would; kill its process group if it lingers."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the group start_new_session made for it
            proc.wait(10)
        if proc.stdout:
            proc.stdout.close()

    def problems(self) -> list[str]:
        """Return the server's logged errors and tracebacks (there should be none)."""
        found = []
        with open(self.stderr_path, errors="replace") as f:
            for line in f:
                if (" ERROR " in line or line.startswith(("Traceback", "error on ")) or " WARNING impl" in line):
                    found.append(line.strip())
        return found

    def describe(self) -> str:
        raise NotImplementedError


class Server(Served):
    """The reference server: one run_server.py subprocess."""

    def __init__(
        self, name: str, db: str, workdir: str, *, workers: int, threads: int, access_log: bool,
        extra: tuple[str, ...] = (),
    ) -> None:
        super().__init__(name, workdir)
        self.db = db
        self.workers = workers
        self.threads = threads
        self.access_log = access_log
        self.extra = tuple(extra)

    @property
    def flags(self) -> list[str]:
        return [
            "--workers",
            str(self.workers),
            "--threads",
            str(self.threads),
            "--access-log" if self.access_log else "--no-access-log",
            *self.extra,
        ]

    def launch(self) -> tuple[list[str], dict[str, str], str, int | None]:
        # Settings come from the command line only, never from the caller's SESSIONS_* variables.
        env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONS_")}
        cmd = [sys.executable, RUN_SERVER, "--host", HOST, "--port", "0", "--db", self.db, *self.flags]
        return cmd, env, ROOT, None

    def describe(self) -> str:
        return f"run_server.py {' '.join(self.flags)}"


def granian_command() -> list[str]:
    """Return how to run granian's CLI: the one beside this interpreter, else `python -m granian`."""
    beside = os.path.join(os.path.dirname(sys.executable), "granian")
    return [beside] if os.access(beside, os.X_OK) else [sys.executable, "-m", "granian"]


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class GranianApp(Served):
    """A WSGI app of bench/ceilings.py served by granian's CLI, with the reference's workers and threads."""

    def __init__(self, name: str, target: str, workdir: str, *, workers: int, threads: int) -> None:
        super().__init__(name, workdir)
        self.target = target
        self.workers = workers
        self.threads = threads

    @property
    def flags(self) -> list[str]:
        return ["--interface", "wsgi", "--workers", str(self.workers), "--blocking-threads", str(self.threads),
                "--no-log"]

    def launch(self) -> tuple[list[str], dict[str, str], str, int | None]:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GRANIAN_", "SESSIONS_"))}
        env["PYTHONPATH"] = BENCH  # ceilings.py, and nothing of the reference server
        cmd = [*granian_command(), "--host", HOST, "--port", str(port), *self.flags, self.target]
        return cmd, env, BENCH, port

    def describe(self) -> str:
        return f"granian {' '.join(self.flags)} {self.target}"


NODE_SERVER = os.path.join(ROOT, "examples", "node-server", "server.js")


class NodeServer(Served):
    """examples/node-server/server.js: the Node.js implementation, in-memory, one process."""

    def __init__(self, name: str, workdir: str, *, node: str, scrypt_cost: int) -> None:
        super().__init__(name, workdir)
        self.node = node
        self.scrypt_cost = scrypt_cost

    def launch(self) -> tuple[list[str], dict[str, str], str, int | None]:
        cmd = [self.node, NODE_SERVER, "--host", HOST, "--port", "0", "--scrypt-cost", str(self.scrypt_cost)]
        return cmd, dict(os.environ), ROOT, None

    def describe(self) -> str:
        return f"node examples/node-server/server.js --scrypt-cost {self.scrypt_cost}"


def node_version(node: str) -> str:
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    return out or "unknown"


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> str | None:
    """Return the first stdout line of `proc`, or None after `timeout` seconds."""
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    return result[0].decode(errors="replace").strip() if result else None


class MemorySampler:
    """Sample the summed RSS of each running server's processes, five times a second."""

    def __init__(self, servers: list[Server], interval: float = 0.2) -> None:
        self.servers = servers
        self.interval = interval
        self.phase = "start"
        # The server being measured; the others are sampled as idle.
        self.active: Server | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss", daemon=True)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            for server in list(self.servers):
                pids = server.pids()
                total = sum(rss_bytes(pid) for pid in pids)
                phase = self.phase if self.active in (None, server) else "idle"
                if total > server.peak_rss:
                    server.peak_rss, server.peak_phase, server.processes = total, phase, len(pids)
                if total > server.phase_peaks.get(phase, 0):
                    server.phase_peaks[phase] = total


# -- HTTP from the bench itself (set-up and single timed requests) -------------


def request(
    url: str, method: str, path: str, body: Any = None, cookie: str | None = None
) -> tuple[int, dict[str, str], Any, float]:
    """Send one request; return (status, headers, decoded JSON body, seconds)."""
    host, _, port = url.removeprefix("http://").rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if cookie:
        headers["Cookie"] = f"session={cookie}"
    data = json.dumps(body).encode() if body is not None else None
    try:
        started = time.perf_counter()
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        seconds = time.perf_counter() - started
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(raw or b"null"), seconds
    finally:
        conn.close()


def login(url: str, email: str, signup: bool = True) -> str:
    """Sign up (if needed) and log in through HTTP; return the session cookie's token."""
    if signup:
        request(url, "POST", "/signup", {"email": email, "password": PASSWORD})
    status, headers, body, _ = request(url, "POST", "/login", {"email": email, "password": PASSWORD})
    match = re.search(r"session=([^;]+)", headers.get("set-cookie", ""))
    if status != 200 or not match:
        raise RuntimeError(f"login failed: {status} {body}")
    return match.group(1)


def login_many(url: str, label: str, users: int, per_user: int) -> list[str]:
    """Sign up `users` accounts and log each in `per_user` times, through HTTP; return the tokens, users interleaved."""
    tokens: list[list[str]] = [[] for _ in range(per_user)]
    for i in range(users):
        email = f"{label}-{i}@bench.example"
        for j in range(per_user):
            tokens[j].append(login(url, email, signup=j == 0))
    return [token for batch in tokens for token in batch]


def check_me(url: str, token: str, what: str) -> None:
    status, _, body, _ = request(url, "GET", "/me", cookie=token)
    if status != 200:
        raise RuntimeError(f"{what}: GET /me answered {status} {body}; the benchmark would measure errors")


@dataclass
class Scenario:
    """One kind of wrk run: a path and the arguments of wrk.lua."""

    key: str
    label: str
    path: str
    args: list[str]
    duration: float | None = None  # seconds per wrk run; None: the Load's
