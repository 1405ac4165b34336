#!/usr/bin/env python3
"""Benchmark of the reference server: one command, loopback only, about five minutes.

How to run
----------
    .venv/bin/python bench/run.py            # full run, ~5 min: bench/results/latest.md + latest.json
    .venv/bin/python bench/run.py --quick    # smoke run, ~1.5 min: bench/results/quick.md + quick.json
    .venv/bin/python bench/run.py --layouts 2x1,2x2,2x4,2x8   # which --workers x --threads serves /me best
    .venv/bin/python bench/run.py --help     # every knob (duration, rounds, connections, server layout)

It needs wrk (Debian package `wrk`): found on PATH, installed with apt-get
when missing and running as root, otherwise the run stops and says how to
install it. It starts the real server (`run_server.py`, granian, the
production defaults unless told otherwise) as a subprocess on 127.0.0.1 with
a temporary database, never touching var/ or any other address. Sessions are
written straight into that database beforehand (bench/seed.py: the server's
own schema, rows shaped like a login's), because creating them through
POST /login costs one scrypt (~60 ms) each.

The machine is shared: wrk runs on the same cores as the server, and other
work on the machine shows up as noise (perf-notes saw +-40% between runs of
one cell). So the runs that are compared are interleaved (healthz, me, ...,
healthz, me, ...) and each figure is the median of its rounds; compare
figures within one run, not across runs. The load average before and after
is printed so a disturbed run can be recognised.

What each figure means
----------------------
- req/s: completed requests per second over one wrk run (-t2 -c16 -d10s by
  default): closed loop, 16 connections each sending its next request when
  the previous answer arrived. p50/p99: wrk's latency percentiles of those
  requests (no connect time; a figure to compare between runs, not a
  service-level promise). Medians over the rounds.
- GET /healthz: the same app's hello-world route, no session, no database;
  the ceiling of this server stack. "/me / healthz" is the ratio of the
  median req/s: what authenticating a session (cookie, SHA-256, one SQLite
  primary-key read, JSON) costs relative to the bare stack.
- /me, one session: every request carries the same cookie (a real login).
  /me, 1,000 sessions: each request takes the next of 1,000 cookies of
  different users, as real traffic does (the first use of each writes its
  last-active time, once a minute per session, as in production).
- Access log on/off: the server's `--access-log` (the default, on) writes a
  line per request to stderr, here a file. The headline uses "on", as
  deployed; "off" shows what the log costs.
- GET /me/sessions: the list for a user with 10 and with 1,000 sessions;
  for 1,000 also with a single connection (-t1 -c1), the latency of the
  request alone: at 16 connections on 2 cores a request also waits for the
  ~8 ahead of it on its core.
- revoke-all: the wall time, seen by the client, of one
  POST /me/sessions/revoke-all for a user with 10,000 other sessions, on an
  otherwise idle server; repeated on fresh users, median reported. Done in
  the main table (~60,000 sessions) and again in the large one, since each
  deleted row touches pages spread over the whole table and its indexes.
- POST /login: real logins of one user under the same load; bounded by
  scrypt (parameters read from the hash the server stored at signup).
- Lookup vs table size: GET /me over 1,000 rotating cookies against two
  servers with identical settings whose tables hold 10,000 and 1,000,000
  sessions (interleaved rounds), plus the same lookup called in-process
  (SessionManager.authenticate, no HTTP) in microseconds. Flat means the
  ratio stays near 1.
- Peak RSS: the sum of resident memory of the server's processes (the
  supervising master plus every granian worker), sampled from /proc five
  times a second while that server ran; shared pages count once per process.
- Targets (PASS/MISS) are the project's goals from issue 5; the Node.js line
  is quoted from shared/perf-notes.md, not measured here.

Layouts (--layouts) starts one server per --workers x --threads layout on
one database and interleaves /healthz, /me and /me with 1,000 cookies over
them. bench/profile_me.py shows where one /me request's time goes,
in-process; `.venv/bin/python -m pytest bench` checks the benchmark's own
machinery (seeding, wrk's report), never timings.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
if BENCH not in sys.path:
    sys.path.insert(0, BENCH)

import seed  # noqa: E402

RUN_SERVER = os.path.join(ROOT, "run_server.py")
WRK_LUA = os.path.join(BENCH, "wrk.lua")
RESULTS = os.path.join(BENCH, "results")
HOST = "127.0.0.1"  # loopback only, always

# The project's goals (issue 5).
TARGET_ME_RATIO = 0.6
TARGET_P99_MS = 20.0
TARGET_LIST_P50_MS = 20.0
TARGET_REVOKE_MS = 200.0
TARGET_FLAT = 1.2
# Quoted, not measured here: shared/perf-notes.md.
NODE_REFERENCE = "A Node.js implementation of the same contract (in-memory session map plus SQLite): ~14,400 authenticated req/s, p99 3.4 ms"

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
    """Settings of every wrk run."""

    wrk: str
    duration: float
    connections: int
    threads: int

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
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH-JSON ")), None)
        if proc.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
        return summarise_wrk(json.loads(line[len("BENCH-JSON ") :]))


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


# -- the server under test ----------------------------------------------------


def server_defaults() -> argparse.Namespace:
    """Return run_server.py's defaults as they are without any SESSIONS_* variable."""
    from impl.serve import build_parser

    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("SESSIONS_")}
    try:
        return build_parser().parse_args([])
    finally:
        os.environ.update(saved)


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


class Server:
    """One run_server.py subprocess on a free loopback port."""

    def __init__(
        self, name: str, db: str, workdir: str, *, workers: int, threads: int, access_log: bool
    ) -> None:
        self.name = name
        self.db = db
        self.workers = workers
        self.threads = threads
        self.access_log = access_log
        self.stderr_path = os.path.join(workdir, f"server-{name}.log")
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.peak_rss = 0
        self.peak_phase = ""
        self.processes = 0
        self.phase_peaks: dict[str, int] = {}

    @property
    def flags(self) -> list[str]:
        return [
            "--workers",
            str(self.workers),
            "--threads",
            str(self.threads),
            "--access-log" if self.access_log else "--no-access-log",
        ]

    def start(self, timeout: float = 60) -> None:
        """Start the server and wait until it answers /healthz."""
        # Settings come from the command line only, never from the caller's SESSIONS_* variables.
        env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONS_")}
        cmd = [sys.executable, RUN_SERVER, "--host", HOST, "--port", "0", "--db", self.db, *self.flags]
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, start_new_session=True
            )
        first = _read_line(self.proc, timeout)
        match = re.match(r"listening on (http://\S+)", first or "")
        if not match:
            self.stop()
            raise RuntimeError(f"server {self.name} did not start: {first!r}; see {self.stderr_path}")
        self.url = match.group(1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if request(self.url, "GET", "/healthz")[0] == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"server {self.name} never answered /healthz")

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
                if " ERROR " in line or line.startswith("Traceback") or " WARNING impl" in line:
                    found.append(line.strip())
        return found

    def describe(self) -> str:
        return f"run_server.py {' '.join(self.flags)}"


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


def login(url: str, email: str) -> str:
    """Sign up (if needed) and log in through HTTP; return the session cookie's token."""
    request(url, "POST", "/signup", {"email": email, "password": PASSWORD})
    status, headers, body, _ = request(url, "POST", "/login", {"email": email, "password": PASSWORD})
    match = re.search(r"session=([^;]+)", headers.get("set-cookie", ""))
    if status != 200 or not match:
        raise RuntimeError(f"login failed: {status} {body}")
    return match.group(1)


def check_me(url: str, token: str, what: str) -> None:
    status, _, body, _ = request(url, "GET", "/me", cookie=token)
    if status != 200:
        raise RuntimeError(f"{what}: GET /me answered {status} {body}; the benchmark would measure errors")


# -- the run ------------------------------------------------------------------


@dataclass
class Scenario:
    """One kind of wrk run: a path and the arguments of wrk.lua."""

    key: str
    label: str
    path: str
    args: list[str]


@dataclass
class Results:
    meta: dict[str, Any] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)
    memory: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def record(self, group: str, server: Server, scenario: Scenario, rnd: int, figures: dict[str, Any]) -> None:
        self.runs.append(
            {"group": group, "server": server.name, "scenario": scenario.key, "round": rnd, **figures}
        )
        errors = figures["errors"]
        log(
            f"{group:9} {server.name:6} {scenario.label:34} round {rnd + 1}: {figures['rps']:8,.0f} req/s"
            f"  p50 {figures['p50_ms']:6.2f} ms  p99 {figures['p99_ms']:7.2f} ms" + (f"  ERRORS {errors}" if errors else "")
        )
        if errors:
            self.notes.append(f"{server.name} {scenario.label} round {rnd + 1}: wrk counted errors {errors}")

    def median(self, group: str, server: str, scenario: str) -> dict[str, Any]:
        """Return the median figures of one cell over its rounds, and the rounds' req/s."""
        rows = [r for r in self.runs if (r["group"], r["server"], r["scenario"]) == (group, server, scenario)]
        if not rows:
            return {}
        return {
            "rps": statistics.median(r["rps"] for r in rows),
            "p50_ms": statistics.median(r["p50_ms"] for r in rows),
            "p99_ms": statistics.median(r["p99_ms"] for r in rows),
            "rounds_rps": [round(r["rps"]) for r in rows],
            "requests": sum(r["requests"] for r in rows),
            "errors": sum(sum(r["errors"].values()) for r in rows),
        }


def interleave(
    results: Results,
    group: str,
    load: Load,
    cells: Sequence[tuple[Server, Scenario]],
    rounds: int,
    sampler: MemorySampler,
) -> None:
    """Run every cell once per round, in order, round after round."""
    for rnd in range(rounds):
        for server, scenario in cells:
            sampler.phase, sampler.active = f"{group}: {scenario.label}", server
            results.record(group, server, scenario, rnd, load.run(server.url + scenario.path, scenario.args))


def warm_up(load: Load, server: Server, scenarios: Sequence[Scenario], seconds: float) -> None:
    """Load every worker, fill caches, and let stale sessions take their first write."""
    for scenario in scenarios:
        load.run(server.url + scenario.path, scenario.args, duration=seconds)


def machine(args: argparse.Namespace, wrk: str) -> dict[str, Any]:
    from importlib.metadata import version

    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "granian": version("granian"),
        "bottle": version("bottle"),
        "sqlite": sqlite3.sqlite_version,
        "load_generator": wrk_version(wrk),
    }


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def write_cookies(path: str, tokens: Sequence[str]) -> str:
    with open(path, "w") as f:
        f.write("\n".join(tokens) + "\n")
    return path


def count_touched(db: str, label: str, since_ms: int) -> int:
    """Return how many sessions of the `label` users had their last-active time written since `since_ms`."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id"
            " WHERE u.email LIKE ? AND s.last_active_at >= ?",
            (f"{label}-%", since_ms),
        ).fetchone()[0]
    finally:
        conn.close()


def main_run(args: argparse.Namespace, load: Load, workdir: str, results: Results) -> None:
    """The full benchmark: headline, listing, login, revoke-all, lookup vs table size."""
    rounds = args.rounds
    modes = {"on": [True], "off": [False], "both": [True, False]}[args.access_log]
    log(f"seeding the main database ({args.revoke_repeats} x {args.revoke_sessions:,} sessions for revoke-all)")
    db = os.path.join(workdir, "main.db")
    seeder = seed.Seeder(db)
    rotation = seeder.add_sessions(seeder.add_users(250, "rotation"), 4, keep_tokens=1000)
    list10 = seeder.add_sessions(seeder.add_users(1, "list10"), 10, stale=False, keep_tokens=1)[0]
    list1000 = seeder.add_sessions(seeder.add_users(1, "list1000"), 1000, stale=False, keep_tokens=1)[0]
    revokers = []
    for i in range(args.revoke_repeats):
        user = seeder.add_users(1, f"revoker{i}")
        current = seeder.add_sessions(user, 1, stale=False, keep_tokens=1)[0]
        seeder.add_sessions(user, args.revoke_sessions, keep_tokens=0)
        revokers.append(current)
    seeded_rows = results.meta["main_table_sessions"] = seeder.sessions
    seeder.write()
    cookies = write_cookies(os.path.join(workdir, "rotation.txt"), rotation)

    servers = [
        Server(
            "log" if on else "nolog",
            db,
            workdir,
            workers=args.workers,
            threads=args.threads,
            access_log=on,
        )
        for on in modes
    ]
    head = servers[0]
    results.meta["server"] = head.describe()
    sampler = MemorySampler(servers)
    with sampler:
        try:
            for server in servers:
                server.start()
                log(f"server {server.name}: {server.describe()} at {server.url}")
            # Seeded sessions were last active minutes ago: each one's first use writes.
            since = int(time.time() * 1000)
            hot = login(head.url, "hot@bench.example")
            for token, what in ((hot, "the logged-in session"), (rotation[0], "a seeded session")):
                for server in servers:
                    check_me(server.url, token, what)
            healthz = Scenario("healthz", "GET /healthz", "/healthz", [])
            me = Scenario("me", "GET /me, one session", "/me", ["header", "Cookie", f"session={hot}"])
            me_rot = Scenario("me_rotating", "GET /me, 1,000 sessions rotating", "/me", ["cookies", cookies])
            for server in servers:
                sampler.phase, sampler.active = "warm-up", server
                warm_up(load, server, [healthz, me_rot], args.warmup)
            results.meta["rotation_sessions_touched"] = count_touched(db, "rotation", since)

            log(f"headline: {rounds} interleaved round(s) of /healthz and /me")
            cells: list[tuple[Server, Scenario]] = []
            for server in servers:
                cells += [(server, healthz), (server, me)] + ([(server, me_rot)] if server is head else [])
            interleave(results, "headline", load, cells, rounds, sampler)

            log("GET /me/sessions with 10 and 1,000 sessions")
            for n, token in ((10, list10), (1000, list1000)):
                status, _, body, _ = request(head.url, "GET", "/me/sessions", cookie=token)
                if status != 200 or len(body) != n:
                    raise RuntimeError(f"GET /me/sessions for {n}: {status}, {len(body or [])} sessions")
                scenario = Scenario(f"list{n}", f"GET /me/sessions, {n:,} sessions", "/me/sessions",
                                    ["header", "Cookie", f"session={token}"])
                sampler.phase, sampler.active = scenario.label, head
                results.record("list", head, scenario, 0, load.run(head.url + scenario.path, scenario.args))
            # One client alone: the latency of the request itself, without queueing behind 15 others.
            single = Load(load.wrk, load.duration / 2, 1, 1)
            scenario = Scenario("list1000_c1", "GET /me/sessions, 1,000, 1 connection", "/me/sessions",
                                ["header", "Cookie", f"session={list1000}"])
            sampler.phase, sampler.active = scenario.label, head
            results.record("list", head, scenario, 0, single.run(head.url + scenario.path, scenario.args))

            log("POST /login")
            login_scn = Scenario("login", "POST /login", "/login",
                                 ["body", json.dumps({"email": "hot@bench.example", "password": PASSWORD})])
            sampler.phase, sampler.active = login_scn.label, head
            results.record("login", head, login_scn, 0, load.run(head.url + login_scn.path, login_scn.args))
            results.summary["scrypt"] = scrypt_parameters(db, "hot@bench.example")

            log(f"POST /me/sessions/revoke-all, {args.revoke_sessions:,} sessions, {len(revokers)} users")
            sampler.phase, sampler.active = "revoke-all", head
            results.summary["revoke_all"] = time_revoke_all(head, revokers, args.revoke_sessions, seeded_rows)
        finally:
            for server in servers:
                server.stop()
    for server in servers:
        results.memory[server.name] = memory_of(server)
        for line in server.problems():
            results.notes.append(f"server {server.name} logged: {line[:200]}")
        results.meta.setdefault("access_log_bytes", {})[server.name] = os.path.getsize(server.stderr_path)

    table_size(args, load, workdir, results)


def time_revoke_all(server: Server, tokens: Sequence[str], expected: int, table_rows: int) -> dict[str, Any]:
    """Time POST /me/sessions/revoke-all once per token, one after the other, on an otherwise idle server."""
    times = []
    for token in tokens:
        status, _, body, seconds = request(server.url, "POST", "/me/sessions/revoke-all", cookie=token)
        if status != 200 or body.get("revoked") != expected:
            raise RuntimeError(f"revoke-all answered {status} {body}")
        check_me(server.url, token, "the session that revoked all others")
        times.append(seconds * 1000)
        log(f"revoke-all on {server.name}: {seconds * 1000:.1f} ms ({body['revoked']:,} revoked)")
    return {
        "sessions": expected,
        "table_rows": table_rows,
        "ms": [round(t, 1) for t in times],
        "median_ms": statistics.median(times),
    }


def table_size(args: argparse.Namespace, load: Load, workdir: str, results: Results) -> None:
    """GET /me over 1,000 rotating cookies with 10,000 and with `args.big_table` sessions in the table."""
    sizes = [10_000, args.big_table]
    servers, scenarios = [], {}
    big_revokers: list[str] = []
    big_rows = 0
    for size in sizes:
        db = os.path.join(workdir, f"table-{size}.db")
        big = size == args.big_table
        log(f"seeding {size:,} sessions into {os.path.basename(db)}"
            + (f", and {args.big_revoke_repeats} users with {args.revoke_sessions:,} more each" if big else ""))
        started = time.monotonic()
        seeder = seed.Seeder(db)
        users = seeder.add_users(max(1, size // 200), "user")  # a few thousand users for a million rows
        tokens = seeder.add_sessions(users, max(1, size // len(users)), keep_tokens=1000)
        if big:
            for i in range(args.big_revoke_repeats):
                user = seeder.add_users(1, f"revoker{i}")
                big_revokers.append(seeder.add_sessions(user, 1, stale=False, keep_tokens=1)[0])
                seeder.add_sessions(user, args.revoke_sessions, keep_tokens=0)
            big_rows = seeder.sessions
        seeder.write()
        results.meta[f"seed_seconds_{size}"] = round(time.monotonic() - started, 1)
        results.summary.setdefault("inprocess_lookup_us", {})[str(size)] = inprocess_lookup(db, tokens)
        cookies = write_cookies(os.path.join(workdir, f"cookies-{size}.txt"), tokens)
        name = f"{size // 1000:,}k" if size < 1_000_000 else f"{size / 1e6:g}M"
        server = Server(name, db, workdir, workers=args.workers, threads=args.threads,
                        access_log=args.access_log != "off")
        servers.append(server)
        scenarios[name] = Scenario("me_rotating", f"GET /me, {size:,}-row table", "/me", ["cookies", cookies])
    sampler = MemorySampler(servers)
    with sampler:
        try:
            for server in servers:
                server.start()
                check_me(server.url, open(scenarios[server.name].args[1]).readline().strip(), "a seeded session")
                sampler.phase, sampler.active = "warm-up", server
                warm_up(load, server, [scenarios[server.name]], args.warmup)
            log(f"lookup vs table size: {args.lookup_rounds} interleaved round(s)")
            cells = [(server, scenarios[server.name]) for server in servers]
            interleave(results, "table", load, cells, args.lookup_rounds, sampler)
            if big_revokers:
                log(f"POST /me/sessions/revoke-all in the {big_rows:,}-row table")
                sampler.phase, sampler.active = "revoke-all, large table", servers[-1]
                results.summary["revoke_all_big"] = time_revoke_all(
                    servers[-1], big_revokers, args.revoke_sessions, big_rows)
        finally:
            for server in servers:
                server.stop()
    results.meta["table_servers"] = [s.name for s in servers]
    for server in servers:
        results.memory[server.name] = memory_of(server)
        for line in server.problems():
            results.notes.append(f"server {server.name} logged: {line[:200]}")


def inprocess_lookup(db: str, tokens: Sequence[str], passes: int = 5) -> float:
    """Return the median µs of SessionManager.authenticate over `tokens`, called directly."""
    from impl.config import Config
    from impl.sessions import SessionManager
    from impl.store import SqliteStore

    store = SqliteStore(db)
    manager = SessionManager(store, Config(db_path=db))
    try:
        for token in tokens:  # warm the connection; the first use of each writes its last-active time
            if manager.authenticate(token) is None:
                raise RuntimeError("a seeded session did not authenticate")
        per_call = []
        for _ in range(passes):
            started = time.perf_counter()
            for token in tokens:
                manager.authenticate(token)
            per_call.append((time.perf_counter() - started) / len(tokens) * 1e6)
        return round(statistics.median(per_call), 1)
    finally:
        store.close()


def scrypt_parameters(db: str, email: str) -> dict[str, Any]:
    """Return the scrypt parameters of the hash the server stored for `email`, and one hash's time here."""
    import hashlib

    conn = sqlite3.connect(db)
    try:
        stored = conn.execute("SELECT password_hash FROM users WHERE email_key = ?", (email,)).fetchone()[0]
    finally:
        conn.close()
    scheme, n, r, p, *_ = stored.split("$")
    n, r, p = int(n), int(r), int(p)
    times = []
    for _ in range(3):
        started = time.perf_counter()
        hashlib.scrypt(b"x" * 16, salt=b"s" * 16, n=n, r=r, p=p, maxmem=2 * 128 * r * (n + p) + (1 << 20))
        times.append((time.perf_counter() - started) * 1000)
    return {"scheme": scheme, "n": n, "r": r, "p": p, "one_hash_ms": round(statistics.median(times), 1)}


def memory_of(server: Server) -> dict[str, Any]:
    return {
        "peak_rss_mib": round(server.peak_rss / 2**20, 1),
        "by_phase_mib": {phase: round(b / 2**20, 1) for phase, b in server.phase_peaks.items()},
        "processes": server.processes,
        "during": server.peak_phase,
        "server": server.describe(),
    }


# -- server layouts -----------------------------------------------------------


def layouts_run(args: argparse.Namespace, load: Load, workdir: str, results: Results) -> None:
    """Compare worker x thread layouts on /healthz and /me, interleaved, one server per layout."""
    layouts = []
    for item in args.layouts.split(","):
        workers, _, threads = item.strip().partition("x")
        layouts.append((int(workers), int(threads)))
    db = os.path.join(workdir, "layouts.db")
    seeder = seed.Seeder(db)
    rotation = seeder.add_sessions(seeder.add_users(250, "rotation"), 4, keep_tokens=1000)
    seeder.write()
    cookies = write_cookies(os.path.join(workdir, "rotation.txt"), rotation)
    on = args.access_log != "off"
    servers = [Server(f"{w}x{t}", db, workdir, workers=w, threads=t, access_log=on) for w, t in layouts]
    results.meta["server"] = f"run_server.py --workers W --threads T {'--access-log' if on else '--no-access-log'}"
    sampler = MemorySampler(servers)
    with sampler:
        try:
            for server in servers:
                server.start()
            hot = login(servers[0].url, "hot@bench.example")
            healthz = Scenario("healthz", "GET /healthz", "/healthz", [])
            me = Scenario("me", "GET /me, one session", "/me", ["header", "Cookie", f"session={hot}"])
            me_rot = Scenario("me_rotating", "GET /me, 1,000 sessions rotating", "/me", ["cookies", cookies])
            for server in servers:
                check_me(server.url, hot, "the logged-in session")
                sampler.phase, sampler.active = "warm-up", server
                warm_up(load, server, [healthz, me_rot], args.warmup)
            cells = [(server, scenario) for server in servers for scenario in (healthz, me, me_rot)]
            interleave(results, "layouts", load, cells, args.rounds, sampler)
        finally:
            for server in servers:
                server.stop()
    for server in servers:
        results.memory[server.name] = memory_of(server)
        for line in server.problems():
            results.notes.append(f"server {server.name} logged: {line[:200]}")
    results.meta["layouts"] = [s.name for s in servers]


# -- the report ---------------------------------------------------------------


def ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def judge(results: Results, name: str, measured: str, ok: bool | None) -> None:
    verdict = "n/a" if ok is None else ("PASS" if ok else "MISS")
    results.targets.append({"target": name, "measured": measured, "result": verdict})


def header_lines(results: Results, args: argparse.Namespace) -> list[str]:
    m = results.meta["machine"]
    lines = [
        f"Machine: {m['nproc']} cores (nproc), {m['cpu']}, {m['memory_gib']} GiB, Linux {m['kernel']}; "
        f"Python {m['python']}, granian {m['granian']}, Bottle {m['bottle']}, SQLite {m['sqlite']}.",
        f"Server: `{results.meta['server']}` on {HOST}, temporary database, every other setting at its "
        "default (touch interval 60 s, purge interval 300 s); access log to a file.",
        f"Load generator: {m['load_generator']}, `-t{args.wrk_threads} -c{args.connections} -d{args.duration:g}s`, "
        f"on the same {m['nproc']} cores as the server. Latencies are wrk's (closed loop, no connect time).",
        f"Load average (1, 5, 15 min) before: {results.meta['loadavg_before']}; after: {results.meta['loadavg_after']}. "
        f"Run took {results.meta['elapsed_s']:.0f} s{' (quick smoke run: indicative only)' if args.quick else ''}.",
    ]
    return lines


def report_main(results: Results, args: argparse.Namespace) -> str:
    r = results
    out = [f"# Benchmark of the reference server, {r.meta['started']}", ""]
    out += [f"- {line}" for line in header_lines(r, args)]
    out += ["", f"## GET /me against the /healthz ceiling ({args.rounds} interleaved round(s), medians)", ""]
    out += ["| request | access log | req/s | req/s per round | p50 ms | p99 ms | / healthz |",
            "|---|---|---:|---|---:|---:|---:|"]
    modes = [n for n in ("log", "nolog") if r.median("headline", n, "healthz")]
    for name in modes:
        ceiling = r.median("headline", name, "healthz")
        for key in ("healthz", "me", "me_rotating"):
            cell = r.median("headline", name, key)
            if not cell:
                continue
            r.summary.setdefault("headline", {}).setdefault(name, {})[key] = {
                **cell, "ratio": cell["rps"] / ceiling["rps"]}
            label = {"healthz": "GET /healthz (ceiling)", "me": "GET /me, one session",
                     "me_rotating": "GET /me, 1,000 sessions rotating"}[key]
            out.append(
                f"| {label} | {'on' if name == 'log' else 'off'} | {cell['rps']:,.0f} | "
                f"{' · '.join(f'{x:,}' for x in cell['rounds_rps'])} | {ms(cell['p50_ms'])} | {ms(cell['p99_ms'])} | "
                f"{cell['rps'] / ceiling['rps']:.2f} |"
            )
    out += ["", "The headline is access log **on**, the server's default."]
    touched = r.meta.get("rotation_sessions_touched")
    if touched is not None:
        out.append(f"Check: the warm-up's rotation used {touched:,} distinct sessions (expected 1,000).")
    out.append("")

    out += ["## Other requests (server with access log on)", "",
            "| request | req/s | p50 ms | p99 ms | requests | errors |", "|---|---:|---:|---:|---:|---:|"]
    for group, key, label in (("list", "list10", "GET /me/sessions, 10 sessions"),
                              ("list", "list1000", "GET /me/sessions, 1,000 sessions"),
                              ("list", "list1000_c1", "GET /me/sessions, 1,000 sessions, 1 connection (-t1 -c1)"),
                              ("login", "login", "POST /login")):
        cell = r.median(group, "log" if r.median(group, "log", key) else "nolog", key)
        if cell:
            r.summary[key] = cell
            out.append(f"| {label} | {cell['rps']:,.{1 if cell['rps'] < 100 else 0}f} | {ms(cell['p50_ms'])} | {ms(cell['p99_ms'])} | "
                       f"{cell['requests']:,} | {cell['errors']} |")
    ra = r.summary["revoke_all"]
    out += ["", "POST /me/sessions/revoke-all, one request at a time on an otherwise idle server, fresh user each time:", "",
            "| other sessions revoked | sessions in the table | median ms | each run, ms |", "|---:|---:|---:|---|"]
    for cell in (ra, r.summary.get("revoke_all_big")):
        if cell:
            out.append(f"| {cell['sessions']:,} | {cell['table_rows']:,} | {ms(cell['median_ms'])} | "
                       f"{', '.join(ms(t) for t in cell['ms'])} |")
    sc = r.summary["scrypt"]
    out += ["", f"Login is bounded by scrypt: the server stored `{sc['scheme']}` N={sc['n']} r={sc['r']} p={sc['p']} "
            f"(read from the signed-up user's hash); one such hash takes {sc['one_hash_ms']} ms here "
            f"(in the bench process, {sc['one_hash_ms'] and round(1000 / sc['one_hash_ms'] * r.meta['machine']['nproc'])}"
            " hashes/s at most on all cores).", ""]

    small, big = r.meta["table_servers"]
    cs, cb = r.median("table", small, "me_rotating"), r.median("table", big, "me_rotating")
    ip = r.summary["inprocess_lookup_us"]
    big_rows = f"{args.big_table:,}"
    out += [f"## Lookup against table size (GET /me, 1,000 rotating cookies, {args.lookup_rounds} interleaved round(s))", "",
            "| sessions in table | req/s | req/s per round | p50 ms | p99 ms | in-process authenticate µs |",
            "|---:|---:|---|---:|---:|---:|"]
    for rows, cell, key in (("10,000", cs, "10000"), (big_rows, cb, str(args.big_table))):
        out.append(f"| {rows} | {cell['rps']:,.0f} | {' · '.join(f'{x:,}' for x in cell['rounds_rps'])} | "
                   f"{ms(cell['p50_ms'])} | {ms(cell['p99_ms'])} | {ip[key]} |")
    flat = {"rps_ratio": cb["rps"] / cs["rps"], "p50_ratio": cb["p50_ms"] / cs["p50_ms"],
            "inprocess_ratio": ip[str(args.big_table)] / ip["10000"]}
    r.summary["table"] = {small: cs, big: cb, **flat}
    out += ["", f"{big_rows} rows vs 10,000: req/s x{flat['rps_ratio']:.2f}, p50 x{flat['p50_ratio']:.2f}, "
            f"in-process lookup x{flat['inprocess_ratio']:.2f}.", ""]

    out += ["## Peak memory of the server processes (master + workers, RSS summed)", "",
            "| server | peak RSS MiB | processes | while | peak while serving GET /me, MiB |",
            "|---|---:|---:|---|---:|"]
    for name, mem in r.memory.items():
        me_peak = max((v for k, v in mem["by_phase_mib"].items() if "GET /me," in k), default=0)
        out.append(f"| {name}: `{mem['server']}` | {mem['peak_rss_mib']} | {mem['processes']} | {mem['during']} "
                   f"| {me_peak} |")
    out += ["", "POST /login runs up to workers x threads scrypt hashes at once, each with its own "
            "128 x r x N bytes (16 MiB at N=16384, r=8) of working memory.", ""]
    out.append("")

    head = r.summary["headline"]["log" if "log" in r.summary["headline"] else "nolog"]
    judge(r, f"GET /me >= {TARGET_ME_RATIO} x /healthz of the same server (one session)",
          f"{head['me']['ratio']:.2f} x ({head['me']['rps']:,.0f} / {head['healthz']['rps']:,.0f} req/s)",
          head["me"]["ratio"] >= TARGET_ME_RATIO)
    judge(r, f"GET /me p99 < {TARGET_P99_MS:g} ms at {args.connections} connections",
          f"{ms(head['me']['p99_ms'])} ms (1,000 sessions rotating: {ms(head['me_rotating']['p99_ms'])} ms)",
          max(head["me"]["p99_ms"], head["me_rotating"]["p99_ms"]) < TARGET_P99_MS)
    l1000 = r.summary.get("list1000")
    l1000c1 = r.summary.get("list1000_c1")
    judge(r, f"GET /me/sessions with 1,000 sessions p50 < {TARGET_LIST_P50_MS:g} ms at {args.connections} connections",
          f"{ms(l1000['p50_ms'])} ms (1 connection: {ms(l1000c1['p50_ms'])} ms)", l1000["p50_ms"] < TARGET_LIST_P50_MS)
    rb = r.summary.get("revoke_all_big")
    judge(r, f"revoke-all of {args.revoke_sessions:,} sessions < {TARGET_REVOKE_MS:g} ms",
          f"{ms(ra['median_ms'])} ms, median, {ra['table_rows']:,}-row table"
          + (f" ({ms(rb['median_ms'])} ms in the {rb['table_rows']:,}-row table)" if rb else ""),
          ra["median_ms"] < TARGET_REVOKE_MS)
    judge(r, f"GET /me p50 with {big_rows} rows within {TARGET_FLAT - 1:.0%} of 10,000 rows",
          f"x{flat['p50_ratio']:.2f} (req/s x{flat['rps_ratio']:.2f}; in-process x{flat['inprocess_ratio']:.2f})",
          flat["p50_ratio"] <= TARGET_FLAT)
    out += ["## Targets (issue 5)", "", "| target | measured | |", "|---|---|---|"]
    out += [f"| {t['target']} | {t['measured']} | {t['result']} |" for t in r.targets]
    out += ["", f"Reference, quoted from shared/perf-notes.md and **not measured here**: {NODE_REFERENCE}.", ""]
    if args.big_table != 1_000_000:
        out += [f"Note: the large table held {big_rows} rows, not 1,000,000 (`--big-table`).", ""]
    return "\n".join(out + notes_lines(r))


def report_layouts(results: Results, args: argparse.Namespace) -> str:
    r = results
    out = [f"# Server layouts for GET /me, {r.meta['started']}", ""]
    out += [f"- {line}" for line in header_lines(r, args)]
    out += ["", f"{args.rounds} interleaved round(s); medians. One server per layout, all on one database.", "",
            "| --workers x --threads | /healthz req/s | /me req/s | /me p50 ms | /me p99 ms | / healthz | "
            "/me 1,000 rotating req/s | p99 ms | peak RSS MiB |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in r.meta["layouts"]:
        h, m, rot = (r.median("layouts", name, k) for k in ("healthz", "me", "me_rotating"))
        r.summary[name] = {"healthz": h, "me": m, "me_rotating": rot, "ratio": m["rps"] / h["rps"]}
        out.append(f"| {name} | {h['rps']:,.0f} | {m['rps']:,.0f} | {ms(m['p50_ms'])} | {ms(m['p99_ms'])} | "
                   f"{m['rps'] / h['rps']:.2f} | {rot['rps']:,.0f} | {ms(rot['p99_ms'])} | "
                   f"{r.memory[name]['peak_rss_mib']} |")
    best = max(r.meta["layouts"], key=lambda n: r.summary[n]["me"]["rps"])
    out += ["", f"Most /me req/s: {best}.", ""]
    return "\n".join(out + notes_lines(r))


def notes_lines(results: Results) -> list[str]:
    if not results.notes:
        return ["No errors: every request of every run answered 2xx, and the servers logged no error."]
    return ["## Notes", ""] + [f"- {n}" for n in results.notes[:50]]


# -- command line -------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    defaults = server_defaults()
    p = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Benchmark the reference server on loopback with wrk: /me against /healthz, listing, "
        "revoke-all, login, lookups against table size, peak memory. Prints a Markdown table and writes it "
        "with the raw numbers to bench/results/. See the docstring of bench/run.py for what each figure means.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--quick", action="store_true",
                   help="smoke run (~1.5 min): 2 s runs, 1 round, 100,000-row large table, 2 revoke-alls")
    p.add_argument("--duration", type=float, help="seconds per wrk run (default 10; 2 with --quick)")
    p.add_argument("--rounds", type=int, help="interleaved rounds of the headline (default 3; 1 with --quick)")
    p.add_argument("--lookup-rounds", type=int, help="interleaved rounds of 10k vs large table (default 2; 1 quick)")
    p.add_argument("--connections", type=int, default=16, help="wrk connections (-c)")
    p.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (-t)")
    p.add_argument("--workers", type=int, default=defaults.workers, help="server --workers (its default)")
    p.add_argument("--threads", type=int, default=defaults.threads, help="server --threads (its default)")
    p.add_argument("--access-log", choices=("on", "off", "both"), default="both",
                   help="server access log; with both, the headline runs against two servers, on being the headline")
    p.add_argument("--big-table", type=int, help="sessions in the large table (default 1,000,000; 100,000 quick)")
    p.add_argument("--revoke-sessions", type=int, default=10_000, help="other sessions ended by each revoke-all")
    p.add_argument("--revoke-repeats", type=int, help="revoke-alls on fresh users (default 5; 2 with --quick)")
    p.add_argument("--big-revoke-repeats", type=int, default=2, help="revoke-alls in the large table")
    p.add_argument("--warmup", type=float, help="seconds of unrecorded load per server before measuring")
    p.add_argument("--layouts", metavar="WxT[,WxT...]",
                   help="instead of the full run, compare server layouts, e.g. 2x1,2x2,2x4,2x8")
    p.add_argument("--out", help="output path without extension (default bench/results/latest, quick or layouts)")
    p.add_argument("--keep-temp", action="store_true", help="keep the temporary directory (databases, server logs)")
    return p


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    quick = args.quick
    for name, full, short in (("duration", 10.0, 2.0), ("rounds", 3, 1), ("lookup_rounds", 2, 1),
                              ("big_table", 1_000_000, 100_000), ("revoke_repeats", 5, 2), ("warmup", 2.0, 1.0)):
        if getattr(args, name) is None:
            setattr(args, name, short if quick else full)
    if args.out is None:
        args.out = os.path.join(RESULTS, "layouts" if args.layouts else ("quick" if quick else "latest"))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = resolve(build_parser().parse_args(argv))
    wrk = find_wrk()
    load = Load(wrk, args.duration, args.connections, args.wrk_threads)
    results = Results()
    results.meta.update(
        started=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        machine=machine(args, wrk),
        loadavg_before=loadavg(),
        settings={k: v for k, v in vars(args).items() if k not in ("out",)},
    )
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="sessions-bench-")
    try:
        if args.layouts:
            layouts_run(args, load, workdir, results)
        else:
            main_run(args, load, workdir, results)
    finally:
        if args.keep_temp:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results.meta.update(loadavg_after=loadavg(), elapsed_s=time.monotonic() - started)
    text = report_layouts(results, args) if args.layouts else report_main(results, args)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".md", "w") as f:
        f.write(text + "\n")
    with open(args.out + ".json", "w") as f:
        json.dump(
            {k: getattr(results, k) for k in ("meta", "summary", "targets", "memory", "notes", "runs")},
            f,
            indent=1,
            default=str,
        )
        f.write("\n")
    print(text)
    log(f"wrote {os.path.relpath(args.out, ROOT)}.md and .json in {results.meta['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
