"""The scenarios of issue 5, each run against one server process (toolBox or the baseline).

Every function takes the ``ServerProcess`` and the agents as [(name, token)] and
returns a dict of figures (plus raw samples where repeated runs are pooled).
"""

import math
import random
import time

from bench import loadgen
from bench.procs import Worker

WORKERS = 2  # load-generator processes holding parked fetches


def percentile(values, pct):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def _split(items, parts):
    size = math.ceil(len(items) / parts)
    return [items[i:i + size] for i in range(0, len(items), size)]


def _address(server):
    return {"host": server.host, "port": server.port}


def create_agents(server, admin_token, names):
    worker = Worker(loadgen.create_agents, deadline=600, admin_token=admin_token, names=names,
                    **_address(server))
    result = worker.result()
    return [(name, result["tokens"][name]) for name in names], result["seconds"]


def parked(server, agents):
    """Scenario 1: one parked fetch per agent; memory per parked fetch."""
    server.wait_idle()
    rss_before = server.rss_kb()
    workers = [Worker(loadgen.park_and_hold, deadline=600, agents=chunk, **_address(server))
               for chunk in _split(agents, WORKERS)]
    reports = [worker.expect("parked", 300) for worker in workers]
    deadline = time.monotonic() + 120
    while server.sockets() < len(agents) and time.monotonic() < deadline:
        time.sleep(0.2)
    server.wait_idle()
    sockets, rss_after = server.sockets(), server.rss_kb()
    for worker in workers:
        worker.send("measured")
    results = [worker.result(60) for worker in workers]
    count = sum(report["count"] for report in reports)
    early = sum(result["answered_early"] for result in results)
    return {"parked": count, "server_sockets": sockets, "answered_early": early,
            "held": count == len(agents) and early == 0 and sockets >= count,
            "rss_before_kb": rss_before, "rss_after_kb": rss_after,
            "kb_per_fetch": (rss_after - rss_before) / max(count, 1),
            "park_seconds": max(report["seconds"] for report in reports)}


def latency(server, agents, admin_token, tasks, gap=0.005, warmup=20):
    """Scenario 2: tasks one at a time to random parked agents; create answer → agent receipt."""
    workers = [Worker(loadgen.agents_loop, deadline=900, agents=chunk, **_address(server))
               for chunk in _split(agents, WORKERS)]
    for worker in workers:
        worker.expect("parked", 300)
    while server.sockets() < len(agents):
        time.sleep(0.2)
    server.wait_idle()
    chosen = random.sample([name for name, _ in agents], min(len(agents), tasks + warmup))
    creator = Worker(loadgen.create_tasks, deadline=600, admin_token=admin_token,
                     batches=[[name] for name in chosen], gap=gap, **_address(server))
    records = creator.result()
    time.sleep(0.3)
    received = {}
    errors = []
    for worker in workers:
        worker.send("stop")
        result = worker.result(60)
        received.update(result["received"])
        errors += result["errors"]
    after_answer, after_send, missing = [], [], 0
    for ids, sent, answered in records[warmup:]:
        got = received.get(ids[0])
        if got is None:
            missing += 1
            continue
        after_answer.append(max(0.0, got - answered) * 1000)
        after_send.append((got - sent) * 1000)
    return {"samples_ms": after_answer, "p50_ms": percentile(after_answer, 50),
            "p99_ms": percentile(after_answer, 99), "e2e_p50_ms": percentile(after_send, 50),
            "e2e_p99_ms": percentile(after_send, 99), "e2e_samples_ms": after_send, "missing": missing, "errors": errors[:10],
            "early": sum(1 for ids, sent, answered in records[warmup:]
                         if received.get(ids[0], answered) < answered)}


def legacy(server, agents, admin_token, duration, rate):
    """Scenario 3: a fleet fetching every second without waiting; connections, delivery, CPU."""
    base_sockets = server.sockets()
    fleet = Worker(loadgen.legacy_fleet, deadline=duration + 60, agents=agents, duration=duration,
                   **_address(server))
    fleet.expect("started", 60)
    start, cpu_start = time.monotonic(), server.cpu_seconds()
    time.sleep(1.5)  # the fleet ramps up over its first second
    names = [name for name, _ in agents]
    count = max(1, int(rate * (duration - 4)))  # creating ends 2.5 s before the fleet stops
    creator = Worker(loadgen.create_tasks, deadline=duration + 60, admin_token=admin_token,
                     batches=[[random.choice(names)] for _ in range(count)], gap=1 / rate,
                     until=start + duration - 2.5, **_address(server))
    most_sockets = 0
    while not fleet.pipe.poll(0.25):
        most_sockets = max(most_sockets, server.sockets())
        if time.monotonic() - start > duration + 60:
            break
    wall, cpu = time.monotonic() - start, server.cpu_seconds() - cpu_start
    result = fleet.result(10)
    records = creator.result(30)
    created = {task_id for ids, _, _ in records for task_id in ids}
    received = result["received"]
    return {"agents": len(agents), "tasks": len(created),
            "duplicates": len(received) - len(set(received)),
            "missing": len(created - set(received)),
            # minus the creator's one connection
            "server_conns_per_agent": (most_sockets - base_sockets - 1) / len(agents),
            "client_conns_per_agent": result["most_open_per_agent"],
            "cpu_percent": 100 * cpu / wall, "errors": result["error_count"],
            "error_sample": result["errors"][:5]}


def throughput(server, agents, admin_token, duration, warmup):
    """Scenario 4: instant agents, tasks created as fast as accepted; tasks done per second."""
    cpu_start, start = server.cpu_seconds(), time.monotonic()
    worker = Worker(loadgen.throughput, deadline=duration + 60, admin_token=admin_token,
                    agents=agents, duration=duration, warmup=warmup, **_address(server))
    result = worker.result()
    result["cpu_percent"] = 100 * (server.cpu_seconds() - cpu_start) / (time.monotonic() - start)
    return result


def fanout(server, agents, admin_token, rounds, gap, round_timeout=120):
    """Scenario 5: one job (``POST /api/jobs``) on every agent; until all delivered, until all stored.

    Rounds do not overlap: the next job is created only once every result of the last
    is in (or ``round_timeout`` has passed), the server is idle again and ``gap`` has
    passed.  The agents are stopped only then, so no task that arrives is cut off.
    """
    workers = [Worker(loadgen.agents_loop, deadline=600, agents=chunk, **_address(server))
               for chunk in _split(agents, WORKERS)]
    for worker in workers:
        worker.expect("parked", 120)
    deadline = time.monotonic() + 120
    while server.sockets() < len(agents) and time.monotonic() < deadline:
        time.sleep(0.2)
    server.wait_idle()
    names = [name for name, _ in agents]
    records, cpu_each = [], []
    for done in range(1, rounds + 1):
        cpu_start = server.cpu_seconds()
        creator = Worker(loadgen.create_tasks, deadline=300, admin_token=admin_token,
                         batches=[names], gap=0, job=True, **_address(server))
        records += creator.result()
        deadline = time.monotonic() + round_timeout
        while time.monotonic() < deadline:
            for worker in workers:
                worker.send("count")
            if sum(worker.expect("count", 30) for worker in workers) >= done * len(names):
                break
            time.sleep(0.1)
        cpu_each.append(server.cpu_seconds() - cpu_start)  # the server's CPU for the round
        server.wait_idle()
        time.sleep(gap)
    received, stored, errors, generator_cpu = {}, {}, [], 0.0
    for worker in workers:
        worker.send("stop")
        result = worker.result(60)
        received.update(result["received"])
        stored.update(result["stored"])
        errors += result["errors"]
        generator_cpu += result["cpu_s"]
    delivered_s, stored_s, missing = [], [], 0
    for ids, sent, _ in records:
        missing += sum(1 for task_id in ids if task_id not in stored)
        if all(task_id in stored for task_id in ids):
            delivered_s.append(max(received[task_id] for task_id in ids) - sent)
            stored_s.append(max(stored[task_id] for task_id in ids) - sent)
    return {"agents": len(agents), "rounds": rounds, "missing": missing, "errors": errors[:10],
            "delivered_s": max(delivered_s) if delivered_s else float("nan"),
            "stored_s": max(stored_s) if stored_s else float("nan"),
            "answered_each_s": [answered - sent for _, sent, answered in records],
            "server_cpu_s": max(cpu_each), "server_cpu_each_s": cpu_each,
            "agents_cpu_s": generator_cpu,  # the agents' processes, every round and the set-up
            "delivered_each_s": delivered_s, "stored_each_s": stored_s}


def console_fanout(server, agents, admin_token, count, tasks, gap, warmup=3):
    """Scenario 6: ``count`` open consoles; from a result's POST to each console's ``task.done``."""
    workers = [Worker(loadgen.consoles, deadline=600, admin_token=admin_token, count=len(chunk),
                      **_address(server)) for chunk in _split(list(range(count)), WORKERS)]
    opened = sum(worker.expect("open", 300) for worker in workers)
    server.wait_idle()
    poster = Worker(loadgen.post_results, deadline=300, admin_token=admin_token, agent=agents[0],
                    tasks=tasks + warmup, gap=gap, **_address(server))
    posted = poster.result()
    time.sleep(0.5)
    received, errors = {}, []
    for worker in workers:
        worker.send("stop")
        result = worker.result(60)
        for task_id, times in result["received"].items():
            received.setdefault(task_id, []).extend(times)
        errors += result["errors"]
    samples = [(got - sent) * 1000 for task_id, sent in posted[warmup:] for got in received.get(task_id, [])]
    return {"consoles": opened, "tasks": len(posted) - warmup, "samples_ms": samples,
            "missing": opened * (len(posted) - warmup) - len(samples),
            "p50_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99),
            "max_ms": max(samples) if samples else float("nan"), "errors": errors[:10]}
