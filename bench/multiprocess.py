"""Scenario 8: two toolbox processes on one MongoDB (``--mongodb-uri``), everything across them.

- **wake**: agents parked on process B; tasks created through process A, one at a time;
  from A's answer to the agent's receipt on B (the event bus carries ``task.queued``;
  the one-second sweep would be the fallback).
- **console fan-in**: consoles on A; results posted through B; from the result POST to
  the ``task.done`` event on A's consoles.

Each run uses a database of its own on the server named by the URI (a replica set:
change streams), dropped afterwards.  Compare with scenarios 2 and 6 (one process).
"""

import random
import time
import uuid

from bench import loadgen, procs
from bench.scenarios import WORKERS, _address, _split, create_agents, percentile
from bench.procs import Worker


OFFLINE_AFTER = 10.0  # the servers' default TOOLBOX_OFFLINE_AFTER
LATE_LIMIT = 15.0  # seconds after the last result POST that an event may still arrive


def _drop(uri, name):
    import asyncio

    from toolbox.store.db import open_database

    async def drop():
        database = open_database(uri, name=name)
        await database.drop()
        database.close()

    asyncio.run(drop())


def multiprocess(uri, admin_token, logdir, agents, tasks, consoles, console_tasks, gap, log):
    """Run scenario 8; its figures."""
    name = f"toolbox_bench_mp_{uuid.uuid4().hex[:8]}"
    database = f"{uri.rstrip('/')}/{name}"
    first = procs.start_toolbox(admin_token, logdir, mongodb_uri=database, name="toolbox-A")
    second = procs.start_toolbox(admin_token, logdir, mongodb_uri=database, name="toolbox-B")
    try:
        fleet, _ = create_agents(first, admin_token, [f"mp-{i:05d}" for i in range(agents)])
        time.sleep(2.5)  # B's agent cache learns them at its next refresh (or on first use)
        workers = [Worker(loadgen.agents_loop, deadline=900, agents=chunk, **_address(second))
                   for chunk in _split(fleet, WORKERS)]
        for worker in workers:
            worker.expect("parked", 300)
        while second.sockets() < len(fleet):
            time.sleep(0.2)
        second.wait_idle()
        chosen = random.sample([agent for agent, _ in fleet], min(len(fleet), tasks))
        creator = Worker(loadgen.create_tasks, deadline=600, admin_token=admin_token,
                         batches=[[agent] for agent in chosen], gap=gap, **_address(first))
        records = creator.result()
        time.sleep(0.5)
        received = {}
        for worker in workers:
            worker.send("stop")
            received.update(worker.result(60)["received"])
        wake = [max(0.0, received[ids[0]] - answered) * 1000 for ids, _, answered in records if ids[0] in received]
        log(f"  multiprocess wake: {len(wake)} of {len(records)} received")
        # The stopped fleet goes offline after TOOLBOX_OFFLINE_AFTER (10 s): B announces
        # 1,000 agent.offline events, and each reaches every console.  Let that wave pass
        # first, or the fan-in below measures it (seconds of websocket writes on A).
        time.sleep(OFFLINE_AFTER + 2)
        second.wait_idle()
        first.wait_idle()
        readers = [Worker(loadgen.consoles, deadline=600, admin_token=admin_token, count=len(chunk),
                          **_address(first)) for chunk in _split(list(range(consoles)), WORKERS)]
        opened = sum(reader.expect("open", 300) for reader in readers)
        first.wait_idle()
        poster = Worker(loadgen.post_results, deadline=300, admin_token=admin_token, agent=fleet[0],
                        tasks=console_tasks + 3, gap=0.5, agent_port=second.port, **_address(first))
        posted = poster.result()
        # Late is not lost: wait (bounded) until every console has every task.done, so
        # "not received" counts only events that never came; late ones are in the p99.
        task_ids = [task_id for task_id, _ in posted]
        expected = opened * len(task_ids)
        settle_until = time.monotonic() + LATE_LIMIT
        while time.monotonic() < settle_until:
            for reader in readers:
                reader.send(("count", task_ids))
            if sum(reader.expect("count", 30) for reader in readers) >= expected:
                break
            time.sleep(0.2)
        seen = {}
        for reader in readers:
            reader.send("stop")
            for task_id, times in reader.result(60)["received"].items():
                seen.setdefault(task_id, []).extend(times)
        fan_in = [(got - sent) * 1000 for task_id, sent in posted[3:] for got in seen.get(task_id, [])]
        return {"agents": len(fleet), "tasks": len(records), "wake_missing": len(records) - len(wake),
                "wake_samples_ms": wake, "wake_p50_ms": percentile(wake, 50), "wake_p99_ms": percentile(wake, 99),
                "consoles": opened, "fan_in_samples_ms": fan_in, "fan_in_missing": opened * console_tasks - len(fan_in),
                "fan_in_p50_ms": percentile(fan_in, 50), "fan_in_p99_ms": percentile(fan_in, 99)}
    finally:
        first.stop()
        second.stop()
        _drop(uri, name)
