#!/usr/bin/env python3
"""Every ratio of the performance targets, measured in one run, and the cost-growth plot.

    .venv/bin/python bench/ratios.py            # ~12 min on 2 cores: bench/results/ratios.md, .json, growth.png
    .venv/bin/python bench/ratios.py --quick    # ~4 min smoke run (short runs, one round, 20,000-row large table)

One run starts, side by side on loopback: bare Bottle's hello under granian
(bench/ceilings.py, the reference's workers and threads), the reference on
SQLite and on PostgreSQL (defaults: access log on), examples/node-server
(needs `node`), and a throwaway PostgreSQL server (tests/postgres.py,
PostgreSQL's default settings) on which pgbench -S, its select-only
benchmark, gives the physical limit of one indexed read per request at the
same concurrency. Then, interleaved in rounds (medians):

  bare Bottle /healthz, reference /healthz, reference /me, node /me,
  reference on PostgreSQL /me, pgbench -S

and it prints each target's ratio from those same rounds:

  /healthz / bare Bottle >= 0.85     /me / bare Bottle >= 0.75
  /me / node /me >= 1.0              PostgreSQL /me / SQLite /me >= 0.6 (pgbench -S beside)

Beside req/s it prints each server's CPU time per request (all its
processes, from /proc), which a busy shared machine disturbs far less than
req/s: it says what a request costs, whoever else runs.

Cost growth (unless --no-growth): GET /me and GET /me/sessions at 1, 16 and
64 connections on both backends; the session list of a user with 1, 100 and
1,000 sessions; GET /me over 1,000 rotating sessions in databases of 10,000
and 1,000,000 sessions; both backends. The connections sweep is drawn as
bench/results/growth.png (req/s and p99 against connections; matplotlib).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import seed
from harness import (
    ROOT,
    GranianApp,
    Load,
    NodeServer,
    Scenario,
    Served,
    Server,
    free_port,
    _cpu_seconds,
    check_me,
    find_wrk,
    log,
    login,
    node_version,
    server_defaults,
)

sys.path.insert(0, ROOT)
from tests import postgres  # noqa: E402

BENCH = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(BENCH, "results")
NODE_SCRYPT_COST = 1024  # Node's logins only; GET /me hashes nothing
TARGETS = {
    "healthz_over_bottle": 0.85,
    "me_over_bottle": 0.75,
    "me_over_node": 1.0,
    "postgres_me_over_sqlite_me": 0.6,
}


def cpu_of(server: Served) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    return sum(_cpu_seconds(pid, tick) for pid in server.pids())


def measure(load: Load, server: Served, scenario: Scenario) -> dict[str, Any]:
    """One wrk run, with the server's CPU microseconds per request."""
    before = cpu_of(server)
    figures = load.run(server.url + scenario.path, scenario.args, duration=scenario.duration)
    used = cpu_of(server) - before
    figures["cpu_us_per_request"] = used / figures["requests"] * 1e6 if figures["requests"] else None
    return figures


def pgbench(pg_bin: str, url: str, connections: int, seconds: float) -> dict[str, Any]:
    """pgbench -S (select only: one indexed read per transaction) at `connections` clients."""
    out = subprocess.run(
        [os.path.join(pg_bin, "pgbench"), "-n", "-S", f"-c{connections}", "-j2", f"-T{max(1, round(seconds))}", url],
        capture_output=True, text=True, timeout=seconds + 120,
    )
    match = re.search(r"tps = ([\d.]+)", out.stdout)
    if out.returncode != 0 or not match:
        raise RuntimeError(f"pgbench failed: {out.stderr.strip() or out.stdout.strip()}")
    return {"rps": float(match.group(1))}


def median_cell(runs: list[dict[str, Any]]) -> dict[str, Any]:
    cell = {"rps": statistics.median(r["rps"] for r in runs), "rounds_rps": [round(r["rps"]) for r in runs]}
    for key in ("p50_ms", "p99_ms", "cpu_us_per_request"):
        values = [r[key] for r in runs if r.get(key) is not None]
        if values:
            cell[key] = statistics.median(values)
    errors = sum(sum(r.get("errors", {}).values()) for r in runs)
    if errors:
        cell["errors"] = errors
    return cell


def write_cookies(path: str, tokens: list[str]) -> str:
    with open(path, "w") as f:
        f.write("\n".join(tokens) + "\n")
    return path


def seed_database(seeder: seed.Seeder, big: int = 0) -> dict[str, Any]:
    """Users with 1, 100 and 1,000 sessions, 1,000 rotating sessions, and `big` sessions more; write."""
    lists = {}
    for size in (1, 100, 1000):
        user = seeder.add_users(1, f"list{size}")
        lists[size] = seeder.add_sessions(user, size, keep_tokens=1, stale=False)[0]
    rotation_users = seeder.add_users(250, "rotation")
    rotation = seeder.add_sessions(rotation_users, 4, keep_tokens=1000)
    if big:
        users = seeder.add_users(max(1, big // 200), "bulk")
        seeder.add_sessions(users, max(1, big // len(users)), stale=False)
    seeder.write()
    return {"lists": lists, "rotation": rotation}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="2 s runs, one round, a 20,000-row large table")
    p.add_argument("--duration", type=float, help="seconds per wrk run (default 5; 2 with --quick)")
    p.add_argument("--rounds", type=int, help="interleaved rounds of the ratios (default 5; 1 with --quick)")
    p.add_argument("--connections", type=int, default=16, help="wrk connections of the ratios (-c)")
    p.add_argument("--big-table", type=int, help="sessions of the large table (default 1,000,000; 20,000 quick)")
    p.add_argument("--node", default="node", help="Node.js binary for examples/node-server ('' leaves it out)")
    p.add_argument("--no-growth", action="store_true", help="the ratios only")
    p.add_argument("--out", default=os.path.join(RESULTS, "ratios"), help="output path without extension")
    args = p.parse_args()
    args.duration = args.duration or (2.0 if args.quick else 5.0)
    args.rounds = args.rounds or (1 if args.quick else 5)
    args.big_table = args.big_table or (20_000 if args.quick else 1_000_000)

    wrk = find_wrk()
    defaults = server_defaults()
    workdir = tempfile.mkdtemp(prefix="sessions-ratios-")
    began = time.monotonic()
    result: dict[str, Any] = {"meta": {
        "started": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "settings": {k: v for k, v in vars(args).items()},
        "cpus": os.cpu_count(), "loadavg_before": open("/proc/loadavg").read().split()[:3],
        "server": f"run_server.py --workers {defaults.workers} --threads {defaults.threads} (access log on)",
    }}
    log("starting a throwaway PostgreSQL server (default settings)")
    pg = postgres.start(options="-c max_connections=300")
    servers: list[Served] = []

    def start(server: Served) -> Served:
        servers.append(server)
        server.start()
        return server

    try:
        sqlite_db = os.path.join(workdir, "main.db")
        pg_url = pg.socket_url(pg.new_database())
        log("seeding both backends (lists of 1, 100, 1,000 sessions; 1,000 rotating)")
        seeded = {"sqlite": seed_database(seed.Seeder(sqlite_db))}
        from seed_postgres import PostgresSeeder

        seeded["postgres"] = seed_database(PostgresSeeder(pg_url))
        bench_db = pg.new_database()
        subprocess.run([os.path.join(postgres.pg_bin_dir(), "pgbench"), "-i", "-q", "-s", "10", bench_db],
                       check=True, capture_output=True, timeout=600)

        bottle = start(GranianApp("bottle", "ceilings:bottle_hello", workdir, workers=defaults.workers,
                                  threads=defaults.threads))
        ref = start(Server("sqlite", sqlite_db, workdir, workers=defaults.workers, threads=defaults.threads,
                           access_log=True))
        ref_pg = start(Server("postgres", pg_url, workdir, workers=defaults.workers, threads=defaults.threads,
                              access_log=True))
        # The same server with Prometheus metrics on: what counting every request costs.
        ref_metrics = start(Server("sqlite-metrics", sqlite_db, workdir, workers=defaults.workers,
                                   threads=defaults.threads, access_log=True,
                                   extra=("--metrics-port", str(free_port()))))
        node_bin = shutil.which(args.node) if args.node else None
        node = start(NodeServer("node", workdir, node=node_bin, scrypt_cost=NODE_SCRYPT_COST)) if node_bin else None
        result["meta"]["node"] = node_version(node_bin) if node_bin else "not measured (no node on PATH)"
        load = Load(wrk, args.duration, args.connections, 2, [s for s in servers if isinstance(s, Server)])

        healthz = Scenario("healthz", "GET /healthz", "/healthz", [])
        def me(server: Served, email: str) -> Scenario:
            token = login(server.url, email)
            check_me(server.url, token, f"{server.name}'s session")
            return Scenario("me", "GET /me", "/me", ["header", "Cookie", f"session={token}"])

        cells = [("bare Bottle /healthz", bottle, healthz), ("reference /healthz", ref, healthz),
                 ("reference /me", ref, me(ref, "hot@bench.example"))]
        if node:
            cells.append(("node /me", node, me(node, "hot@bench.example")))
        cells.append(("reference on PostgreSQL /me", ref_pg, me(ref_pg, "hot@bench.example")))
        cells.append(("reference /me, metrics on", ref_metrics, me(ref_metrics, "hot@bench.example")))
        log("warm-up")
        for _, server, scenario in cells:
            load.run(server.url + scenario.path, scenario.args, duration=2)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in cells}
        runs["pgbench -S"] = []
        log(f"ratios: {args.rounds} interleaved round(s) of {args.duration:g} s, -c{args.connections}")
        for rnd in range(args.rounds):
            for name, server, scenario in cells:
                runs[name].append(measure(load, server, scenario))
            runs["pgbench -S"].append(pgbench(postgres.pg_bin_dir(), bench_db, args.connections, args.duration))
            log(f"  round {rnd + 1}: " + ", ".join(f"{n} {r[-1]['rps']:,.0f}" for n, r in runs.items()))
        cell = {name: median_cell(r) for name, r in runs.items()}
        result["cells"] = cell
        ratios = {
            "healthz_over_bottle": cell["reference /healthz"]["rps"] / cell["bare Bottle /healthz"]["rps"],
            "me_over_bottle": cell["reference /me"]["rps"] / cell["bare Bottle /healthz"]["rps"],
            "postgres_me_over_sqlite_me": cell["reference on PostgreSQL /me"]["rps"] / cell["reference /me"]["rps"],
            "postgres_me_over_pgbench": cell["reference on PostgreSQL /me"]["rps"] / cell["pgbench -S"]["rps"],
            "metrics_on_over_off": cell["reference /me, metrics on"]["rps"] / cell["reference /me"]["rps"],
        }
        if node:
            ratios["me_over_node"] = cell["reference /me"]["rps"] / cell["node /me"]["rps"]
        result["ratios"] = ratios

        if not args.no_growth:
            result["growth"] = growth(args, wrk, workdir, pg, ref, ref_pg, seeded, start)
        result["server_problems"] = [line for s in servers for line in s.problems()][:20]
    finally:
        for server in servers:
            server.stop()
        pg.close()
        shutil.rmtree(workdir, ignore_errors=True)
    result["meta"]["elapsed_s"] = round(time.monotonic() - began)
    result["meta"]["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
    text = report(result)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".md", "w") as f:
        f.write(text + "\n")
    with open(args.out + ".json", "w") as f:
        json.dump(result, f, indent=1, default=str)
        f.write("\n")
    if "growth" in result:
        plot(result["growth"]["connections"], os.path.join(os.path.dirname(os.path.abspath(args.out)), "growth.png"))
    print(text)
    return 0


def growth(args, wrk, workdir, pg, ref, ref_pg, seeded, start) -> dict[str, Any]:
    """Connections, list size and table size, on both backends."""
    out: dict[str, Any] = {"connections": {}, "list": {}, "table": {}}
    backends = {"SQLite": (ref, seeded["sqlite"]), "PostgreSQL": (ref_pg, seeded["postgres"])}
    log("growth: connections 1, 16, 64")
    for conns in (1, 16, 64):
        load = Load(wrk, args.duration, conns, min(2, conns), [ref, ref_pg])
        for backend, (server, s) in backends.items():
            token = s["lists"][1]
            for label, path in (("GET /me", "/me"), ("GET /me/sessions", "/me/sessions")):
                scn = Scenario(label, label, path, ["header", "Cookie", f"session={token}"])
                out["connections"].setdefault(f"{backend} {label}", {})[conns] = median_cell([measure(load, server, scn)])
    log("growth: lists of 1, 100, 1,000 sessions")
    load = Load(wrk, args.duration, 16, 2, [ref, ref_pg])
    for backend, (server, s) in backends.items():
        for size, token in s["lists"].items():
            scn = Scenario("list", "list", "/me/sessions", ["header", "Cookie", f"session={token}"])
            out["list"].setdefault(backend, {})[size] = median_cell([measure(load, server, scn)])
    log(f"growth: tables of 10,000 and {args.big_table:,} sessions")
    from seed_postgres import PostgresSeeder

    defaults = server_defaults()
    for size in (10_000, args.big_table):
        for backend in ("SQLite", "PostgreSQL"):
            begun = time.monotonic()
            if backend == "SQLite":
                db = os.path.join(workdir, f"table-{size}.db")
                tokens = seed_database(seed.Seeder(db), size)["rotation"]
            else:
                db = pg.socket_url(pg.new_database())
                tokens = seed_database(PostgresSeeder(db), size)["rotation"]
            log(f"  seeded {size:,} sessions on {backend} in {time.monotonic() - begun:.0f} s")
            server = start(Server(f"table-{backend}-{size}", db, workdir, workers=defaults.workers,
                                  threads=defaults.threads, access_log=True))
            cookies = write_cookies(os.path.join(workdir, f"cookies-{backend}-{size}.txt"), tokens)
            scn = Scenario("rot", "rot", "/me", ["cookies", cookies])
            load = Load(wrk, args.duration, 16, 2, [server])
            load.run(server.url + "/me", scn.args, duration=2)  # each session's first, writing, use
            out["table"].setdefault(backend, {})[size] = median_cell([measure(load, server, scn)])
            server.stop()
    return out


def fmt(cell: dict[str, Any]) -> str:
    cpu = cell.get("cpu_us_per_request")
    return (f"{cell['rps']:,.0f} | {cell.get('p99_ms', float('nan')):.1f} | "
            f"{'–' if cpu is None else f'{cpu:,.0f}'}")


def report(r: dict[str, Any]) -> str:
    m = r["meta"]
    lines = [f"# Ratios of the performance targets, one run ({m['started']}, {m['cpus']} CPUs, "
             f"load average {' '.join(m['loadavg_before'])} before, {' '.join(m['loadavg_after'])} after)", "",
             f"Reference: `{m['server']}`; node: {m['node']}. wrk -t2 -c{m['settings']['connections']}, "
             f"medians of {m['settings']['rounds']} interleaved round(s) of {m['settings']['duration']:g} s; "
             f"pgbench -S -c{m['settings']['connections']} -j2 in the same rounds. Elapsed {m['elapsed_s']} s.", "",
             "| cell | req/s | p99 ms | server CPU µs/request | req/s per round |", "|---|---:|---:|---:|---|"]
    for name, cell in r["cells"].items():
        lines.append(f"| {name} | {fmt(cell)} | {' · '.join(f'{x:,}' for x in cell['rounds_rps'])} |")
    lines += ["", "| ratio (req/s, same run) | measured | target |", "|---|---:|---:|"]
    names = {"healthz_over_bottle": "reference /healthz / bare Bottle", "me_over_bottle": "reference /me / bare Bottle",
             "me_over_node": "reference /me / node /me", "postgres_me_over_sqlite_me": "PostgreSQL /me / SQLite /me",
             "postgres_me_over_pgbench": "PostgreSQL /me / pgbench -S",
             "metrics_on_over_off": "reference /me with --metrics-port / without"}
    for key, value in r["ratios"].items():
        target = TARGETS.get(key)
        verdict = "" if target is None else (" met" if value >= target else " **not met**")
        lines.append(f"| {names[key]} | {value:.2f} | {'–' if target is None else f'>= {target}'}{verdict} |")
    g = r.get("growth")
    if g:
        lines += ["", "Cost growth (one run each, wrk -t2, access log on):", "",
                  "| request | 1 conn req/s · p99 ms | 16 conns | 64 conns |", "|---|---|---|---|"]
        for name, by_conn in g["connections"].items():
            lines.append(f"| {name} | " + " | ".join(f"{c['rps']:,.0f} · {c['p99_ms']:.1f}" for c in by_conn.values()) + " |")
        lines += ["", "| GET /me/sessions, -c16 | 1 session | 100 sessions | 1,000 sessions |", "|---|---|---|---|"]
        for backend, by_size in g["list"].items():
            lines.append(f"| {backend} req/s · p99 ms | " + " | ".join(f"{c['rps']:,.0f} · {c['p99_ms']:.1f}" for c in by_size.values()) + " |")
        sizes = list(next(iter(g["table"].values())))
        lines += ["", f"| GET /me, 1,000 rotating, -c16 | " + " | ".join(f"{s:,} sessions" for s in sizes) + " |",
                  "|---|" + "---|" * len(sizes)]
        for backend, by_size in g["table"].items():
            lines.append(f"| {backend} req/s · p99 ms | " + " | ".join(f"{c['rps']:,.0f} · {c['p99_ms']:.1f}" for c in by_size.values()) + " |")
        lines += ["", "Plot: growth.png beside this report (req/s and p99 against connections)."]
    problems = r.get("server_problems") or []
    lines += ["", f"Server log problems: {len(problems)}."] + [f"- {p}" for p in problems[:5]]
    return "\n".join(lines)


def plot(by_request: dict[str, dict[int, dict[str, Any]]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (rps, p99) = plt.subplots(1, 2, figsize=(10, 4))
    for name, cells in by_request.items():
        conns = list(cells)
        rps.plot(conns, [cells[c]["rps"] for c in conns], marker="o", label=name)
        p99.plot(conns, [cells[c]["p99_ms"] for c in conns], marker="o", label=name)
    for ax, title, unit in ((rps, "throughput", "req/s"), (p99, "p99 latency", "ms")):
        ax.set_xscale("log", base=2)
        ax.set_xticks([1, 16, 64], ["1", "16", "64"])
        ax.set_xlabel("connections (wrk)")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
    p99.set_yscale("log")
    rps.legend(fontsize=7)
    fig.suptitle("Reference server: cost growth with connections (one run, 2 shared cores)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
