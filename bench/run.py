#!/usr/bin/env python3
"""Benchmark of the reference server: one command, loopback only, about six and a half minutes.

    .venv/bin/python bench/run.py            # full run, ~6.5 min: bench/results/latest.md + latest.json
    .venv/bin/python bench/run.py --quick    # smoke run, ~2 min: bench/results/quick.md + quick.json
    .venv/bin/python bench/run.py --help     # every knob

What it needs, what it starts, what each figure means and the latest
figures: bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import seed
from harness import (
    PASSWORD,
    ROOT,
    GranianApp,
    Load,
    MemorySampler,
    NodeServer,
    Scenario,
    Served,
    Server,
    check_me,
    find_wrk,
    log,
    login,
    login_many,
    node_version,
    request,
    server_defaults,
    wrk_version,
)
from report import Results, report_layouts, report_main

BENCH = os.path.dirname(os.path.abspath(__file__))

RESULTS = os.path.join(BENCH, "results")


def interleave(
    results: Results,
    group: str,
    load: Load,
    cells: Sequence[tuple[Served, Scenario]],
    rounds: int,
    sampler: MemorySampler,
) -> None:
    """Run every cell once per round, in order, round after round."""
    for rnd in range(rounds):
        for server, scenario in cells:
            sampler.phase, sampler.active = f"{group}: {scenario.label}", server
            figures = load.run(server.url + scenario.path, scenario.args, duration=scenario.duration)
            results.record(group, server, scenario, rnd, figures)


def warm_up(load: Load, server: Served, scenarios: Sequence[Scenario], seconds: float) -> None:
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
    extras = extra_servers(args, workdir, results)
    load.servers = [*servers, *extras]
    results.meta["server"] = head.describe()
    sampler = MemorySampler([*servers, *extras])
    with sampler:
        try:
            for server in [*servers, *extras]:
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
            extra_cells = prepare_extras(args, load, extras, workdir, sampler)

            log(f"headline: {rounds} interleaved round(s) of /healthz and /me"
                + (f", with {', '.join(s.name for s in extras)} ({args.extra_duration:g} s runs)" if extras else ""))
            cells: list[tuple[Served, Scenario]] = [c for c in extra_cells if c[0].name != "node"]
            for server in servers:
                cells += [(server, healthz), (server, me)] + ([(server, me_rot)] if server is head else [])
            cells += [c for c in extra_cells if c[0].name == "node"]
            interleave(results, "headline", load, cells, rounds, sampler)
            stop_extras(extras, results)

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
            single = Load(load.wrk, load.duration / 2, 1, 1, servers)
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
            for server in [*servers, *extras]:
                server.stop()
    for server in servers:
        results.memory[server.name] = memory_of(server)
        for line in server.problems():
            results.notes.append(f"server {server.name} logged: {line[:200]}")
        results.meta.setdefault("access_log_bytes", {})[server.name] = os.path.getsize(server.stderr_path)

    table_size(args, load, workdir, results)


# -- the headline's comparisons: framework ceilings and the Node.js implementation --------


NODE_SCRYPT_COST = 1024  # Node's logins only (1,250 of them to make 1,000 sessions); GET /me hashes nothing


def extra_servers(args: argparse.Namespace, workdir: str, results: Results) -> list[Served]:
    """Return the servers the headline compares the reference with (not started), saying why any is left out."""
    extras: list[Served] = []
    if args.ceilings:
        extras += [
            GranianApp("wsgi", "ceilings:wsgi_hello", workdir, workers=args.workers, threads=args.threads),
            GranianApp("bottle", "ceilings:bottle_hello", workdir, workers=args.workers, threads=args.threads),
        ]
    node = shutil.which(args.node) if args.node else None
    if node:
        extras.append(NodeServer("node", workdir, node=node, scrypt_cost=NODE_SCRYPT_COST))
        results.meta["node_version"] = node_version(node)
    else:
        results.meta["node_skipped"] = ("left out with --no-node" if not args.node
                                        else f"`{args.node}` is not on PATH")
        log(f"examples/node-server not measured: {results.meta['node_skipped']}")
    results.meta["extra_servers"] = {s.name: s.describe() for s in extras}
    results.meta["extra_duration_s"] = args.extra_duration
    return extras


def prepare_extras(
    args: argparse.Namespace, load: Load, extras: Sequence[Served], workdir: str, sampler: MemorySampler
) -> list[tuple[Served, Scenario]]:
    """Log in to the Node.js server (one session, and 1,000 over 250 users), warm every extra server up.

    Return its headline cells: the hello apps' one route, Node's GET /me with one cookie and with 1,000.
    """
    cells: list[tuple[Served, Scenario]] = []
    for server in extras:
        if isinstance(server, NodeServer):
            hot = login(server.url, "hot@bench.example")
            log("examples/node-server: 250 sign-ups and 1,000 logins through its HTTP API")
            tokens = login_many(server.url, "rotation", 250, 4)
            for token, what in ((hot, "the node server's session"), (tokens[-1], "a node rotation session")):
                check_me(server.url, token, what)
            cookies = write_cookies(os.path.join(workdir, "node-rotation.txt"), tokens)
            scenarios = [
                Scenario("me", "GET /me, one session", "/me", ["header", "Cookie", f"session={hot}"],
                         args.extra_duration),
                Scenario("me_rotating", "GET /me, 1,000 sessions rotating", "/me", ["cookies", cookies],
                         args.extra_duration),
            ]
        else:
            scenarios = [Scenario("hello", "GET /healthz, hello app", "/healthz", [], args.extra_duration)]
        sampler.phase, sampler.active = "warm-up", server
        warm_up(load, server, scenarios, args.warmup)
        cells += [(server, scenario) for scenario in scenarios]
    return cells


def stop_extras(extras: Sequence[Served], results: Results) -> None:
    """Stop the comparison servers once the headline is done, and keep their memory and problems."""
    for server in extras:
        server.stop()
        results.memory[server.name] = memory_of(server)
        for line in server.problems():
            results.notes.append(f"server {server.name} logged: {line[:200]}")


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
    load.servers = servers
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
    """Return the median CPU µs of SessionManager.authenticate over `tokens`, called directly."""
    from impl.config import Config
    from impl.sessions import SessionManager
    from impl.store.sqlite import SqliteStore

    store = SqliteStore(db)
    manager = SessionManager(store, Config(db=db))
    try:
        for token in tokens:  # warm the connection; the first use of each writes its last-active time
            if manager.authenticate(token) is None:
                raise RuntimeError("a seeded session did not authenticate")
        per_call = []
        for _ in range(passes):
            # CPU time of this thread: other work on a shared machine inflates it far less than wall time.
            started = time.thread_time()
            for token in tokens:
                manager.authenticate(token)
            per_call.append((time.thread_time() - started) / len(tokens) * 1e6)
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


def memory_of(server: Served) -> dict[str, Any]:
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
    load.servers = servers
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
                   help="smoke run (~2 min): 2 s runs, 1 round, 100,000-row large table, 2 revoke-alls")
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
    p.add_argument("--extra-duration", type=float,
                   help="seconds per wrk run of the headline's comparison rows (hello apps, Node.js; "
                        "default half of --duration, at least 2)")
    p.add_argument("--ceilings", action=argparse.BooleanOptionalAction, default=True,
                   help="measure the raw WSGI and bare Bottle hello apps (bench/ceilings.py) in the headline")
    p.add_argument("--node", default="node",
                   help="Node.js binary for examples/node-server in the headline; '' or --no-node leaves it out")
    p.add_argument("--no-node", dest="node", action="store_const", const="", help="leave out examples/node-server")
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
    if args.extra_duration is None:
        args.extra_duration = max(2.0, args.duration / 2)
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
