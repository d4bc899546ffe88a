"""``python -m bench``: run the scenarios against toolBox and the bare-Tornado baseline.

Each repetition starts a fresh ``toolbox`` server (embedded database) and a fresh
baseline server on 127.0.0.1, creates the agents on both through the API, runs every
selected scenario on one then the other, and stops them.  The table shows medians
over repetitions (latency percentiles pool every sample), toolBox / baseline, the
target and whether it is met.  ``--json PATH`` keeps every figure.
"""

import argparse
import json
import platform
import signal
import sys
import tempfile
import time

from bench import multiprocess, procs, scenarios, storecost, watch
from bench.report import render_table, rows_for

ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"
NAMES = ("parked", "latency", "legacy", "throughput", "fanout", "consoles", "store", "multiprocess", "schedules")

FULL = {"parked": 15000, "latency_agents": 10000, "latency_tasks": 500, "legacy_agents": 1000,
        "legacy_seconds": 15, "legacy_rate": 100, "throughput_agents": 100, "throughput_seconds": 10,
        "throughput_warmup": 2, "fanout_sizes": (1000, 10000), "fanout_rounds": 3, "fanout_gap": 3.0,
        "consoles": 1000, "console_tasks": 30, "console_gap": 0.5, "store_tasks": 100,
        "mp_agents": 1000, "mp_tasks": 300, "mp_consoles": 100, "mp_console_tasks": 20, "repeat": 3,
        "watch_agents": 50, "watch_schedules": 200, "watch_interval": 60, "watch_spread": 1.0,
        "watch_seconds": 600, "watch_series_agents": 50, "watch_days": 30, "watch_reads": 5, "watch_points": 5000}
QUICK = {"parked": 50, "latency_agents": 50, "latency_tasks": 30, "legacy_agents": 30,
         "legacy_seconds": 5, "legacy_rate": 10, "throughput_agents": 10, "throughput_seconds": 1.5,
         "throughput_warmup": 0.5, "fanout_sizes": (20, 50), "fanout_rounds": 1, "fanout_gap": 0.5,
         "consoles": 20, "console_tasks": 5, "console_gap": 0.1, "store_tasks": 10,
         "mp_agents": 20, "mp_tasks": 20, "mp_consoles": 5, "mp_console_tasks": 5, "repeat": 1,
        "watch_agents": 5, "watch_schedules": 4, "watch_interval": 60, "watch_spread": 0.05,
        "watch_seconds": 4, "watch_series_agents": 5, "watch_days": 2, "watch_reads": 2, "watch_points": 50}


def machine():
    import tornado

    mem_kb = int(open("/proc/meminfo").read().split()[1])
    import os

    return {"nproc": os.cpu_count(), "memory_gib": round(mem_kb / 1024 / 1024, 1),
            "python": platform.python_version(), "tornado": tornado.version,
            "fd_limit": procs.raise_fd_limit(), "kernel": platform.release()}


def agents_needed(selected, size):
    needs = {"parked": size["parked"], "latency": size["latency_agents"],
             "legacy": size["legacy_agents"], "throughput": size["throughput_agents"],
             "fanout": max(size["fanout_sizes"]), "consoles": 1}
    return max([needs[name] for name in selected if name in needs] or [0])


def run_servers(selected, size, logdir, log):
    """One repetition: both servers, every selected server scenario; {scenario: {server: figures}}."""
    count = agents_needed(selected, size)
    if not count:
        return {}
    names = [f"bench-{i:05d}" for i in range(count)]
    out = {"create": {}}
    # One job on the whole fleet aims every task at one target: allow that many at once.
    limits = {"TOOLBOX_TARGET_CONCURRENCY": str(max(2000, 2 * count))}
    servers = [procs.start_toolbox(ADMIN_TOKEN, logdir, extra_env=limits),
               procs.start_baseline(ADMIN_TOKEN, logdir)]
    try:
        fleets = {}
        for server in servers:
            agents, seconds = scenarios.create_agents(server, ADMIN_TOKEN, names)
            fleets[server.name] = agents
            out["create"][server.name] = {"agents": count, "seconds": seconds}
            log(f"  {server.name}: created {count} agents in {seconds:.1f}s")
        steps = []  # (scenario, fleet size): the fan-out runs once per size
        for name in selected:
            if name == "fanout":
                steps += [(name, fleet_size) for fleet_size in size["fanout_sizes"]]
            elif name not in ("store", "multiprocess"):
                steps.append((name, None))
        for name, fleet_size in steps:
            key = name if fleet_size is None else f"{name}_{fleet_size}"
            out[key] = {}
            for server in servers:
                agents = fleets[server.name]
                started = time.monotonic()
                if name == "parked":
                    figures = scenarios.parked(server, agents[:size["parked"]])
                elif name == "latency":
                    figures = scenarios.latency(server, agents[:size["latency_agents"]], ADMIN_TOKEN,
                                                size["latency_tasks"])
                elif name == "legacy":
                    figures = scenarios.legacy(server, agents[:size["legacy_agents"]], ADMIN_TOKEN,
                                               size["legacy_seconds"], size["legacy_rate"])
                elif name == "throughput":
                    figures = scenarios.throughput(server, agents[:size["throughput_agents"]],
                                                   ADMIN_TOKEN, size["throughput_seconds"],
                                                   size["throughput_warmup"])
                elif name == "consoles":
                    figures = scenarios.console_fanout(server, agents, ADMIN_TOKEN, size["consoles"],
                                                       size["console_tasks"], size["console_gap"])
                else:
                    figures = scenarios.fanout(server, agents[:fleet_size], ADMIN_TOKEN,
                                               size["fanout_rounds"], size["fanout_gap"])
                out[key][server.name] = figures
                shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in figures.items()
                         if not isinstance(v, (list, dict))}
                log(f"  {key} / {server.name} ({time.monotonic() - started:.1f}s): {shown}")
    finally:
        for server in servers:
            server.stop()
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small numbers (the test suite runs this)")
    parser.add_argument("--scenario", action="append", choices=NAMES,
                        help="run only this scenario (repeatable); default: all")
    parser.add_argument("--repeat", type=int, help="repetitions (default 3, --quick 1)")
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument("--fanout-agents", type=int, action="append", metavar="N",
                        help="fleet size for the fan-out (repeatable; default 1,000 and 10,000)")
    parser.add_argument("--mongodb-uri", metavar="URI",
                        help="a MongoDB (replica set) for scenario 8, two processes on one database "
                             "(skipped without it), and for scenarios 7 and 9's series read on the shared path")
    parser.add_argument("--minutes", type=float, metavar="M",
                        help="how long scenario 9 (schedules) runs its rounds (default 10, --quick a few seconds)")
    parser.add_argument("--watch-agents", type=int, metavar="N",
                        help="scenario 9's agents, every schedule on all of them (default 50)")
    parser.add_argument("--watch-schedules", type=int, metavar="N",
                        help="scenario 9's schedules (default 200; issue 24's fleet run: 1 on 10,000 agents)")
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the servers started below are stopped, not orphaned.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    size = dict(QUICK if args.quick else FULL)
    if args.minutes:
        size["watch_seconds"] = args.minutes * 60
    if args.watch_agents:
        size["watch_agents"] = args.watch_agents
    if args.watch_schedules:
        size["watch_schedules"] = args.watch_schedules
    if args.fanout_agents:
        size["fanout_sizes"] = tuple(args.fanout_agents)
    repeat = args.repeat or size["repeat"]
    selected = args.scenario or list(NAMES)
    info = machine()

    def log(line):
        print(line, file=sys.stderr, flush=True)

    log(f"bench: {'quick' if args.quick else 'full'} run, {repeat} repetition(s), "
        f"scenarios {', '.join(selected)}; machine {info}")
    runs = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="toolbox-bench-") as logdir:
        for rep in range(repeat):
            log(f"repetition {rep + 1}/{repeat}")
            runs.append(run_servers(selected, size, logdir, log))
    store = storecost.measure(size["store_tasks"], args.mongodb_uri) if "store" in selected else None
    if "multiprocess" in selected and args.mongodb_uri:
        with tempfile.TemporaryDirectory(prefix="toolbox-bench-mp-") as logdir:
            for run in runs:
                run["multiprocess"] = {"toolbox": multiprocess.multiprocess(
                    args.mongodb_uri, ADMIN_TOKEN, logdir, size["mp_agents"], size["mp_tasks"],
                    size["mp_consoles"], size["mp_console_tasks"], 0.005, log)}
    watched = None
    if "schedules" in selected:
        log("scenario 9: schedules")
        with tempfile.TemporaryDirectory(prefix="toolbox-bench-watch-") as logdir:
            # 200 rounds a minute, all the admin's; one schedule on 10,000 agents aims 10,000
            # unfinished tasks at one target (the default limit is 2,000: its round is refused)
            limits = {"TOOLBOX_JOBS_PER_MINUTE": "100000", "TOOLBOX_TARGET_CONCURRENCY": "1000000"}
            watched = watch.run(lambda: procs.start_toolbox(ADMIN_TOKEN, logdir, poll_timeout=30, extra_env=limits),
                                ADMIN_TOKEN, size, args.mongodb_uri, log)
    rows = rows_for(runs, store) + (watch.rows(watched) if watched else [])
    print(render_table(rows, info, repeat))
    failed = [row for row in rows if row["pass"] is False]
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": info, "size": size, "repeat": repeat, "runs": runs, "store": store,
                       "schedules": watched,
                       "rows": rows, "seconds": time.monotonic() - started}, handle, indent=1,
                      default=str)
    log(f"bench: done in {time.monotonic() - started:.1f}s; {len(failed)} target(s) missed")
    return 0

