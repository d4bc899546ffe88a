"""What storing a new job with its tasks in one transaction costs (issue 22):
``python -m bench.job_writes [seconds]``.

On a SecantusDB on disk (``--sync-on-commit``, as tests/test_database_faults.py runs it),
one toolBox ``Services`` in this process creates ping jobs through ``JobService.create``
(agent selection, rate limits, ids, the writes, the events) for ``seconds`` (default 3)
per measure: a job on 1 agent and on 50, one creator and 8 at once, each with the shared
variant's ``TransactionalJobWrites`` and with ``PlainJobWrites`` (the job's insert, then its
tasks': what the shared variant did before).  The two are measured in turns (ABABAB) on one
database, so that a growing collection weighs on both alike.  Prints jobs/s for each and
the ratio."""

import asyncio
import dataclasses
import os
import statistics
import sys
import tempfile
import time

from tests.database_faults import DiskDatabase
from toolbox.core.jobs.selection import job_request
from toolbox.people.principals import Principal
from toolbox.server.config import Config
from toolbox.server.wiring import Services
from toolbox.store.db import open_database
from toolbox.store.repos.job_writes import PlainJobWrites

SIZES = (1, 50)
CREATORS = (1, 8)
ROUNDS = 3


async def rate(services: Services, names: list[str], creators: int, seconds: float) -> float:
    """Jobs created per second by ``creators`` creating one after another for ``seconds``."""
    principal, request = Principal("bench", "admin"), job_request("ping", {"target": "192.0.2.10"}, agents=names)
    created, deadline = 0, time.monotonic() + seconds

    async def creator() -> None:
        nonlocal created
        while time.monotonic() < deadline:
            await services.jobs.create(principal, request)
            created += 1

    started = time.monotonic()
    await asyncio.gather(*(creator() for _ in range(creators)))
    return created / (time.monotonic() - started)


async def measure(uri: str, seconds: float) -> list[str]:
    config = dataclasses.replace(Config(), mongodb_uri=uri, jobs_per_minute=10 ** 7, target_concurrency=10 ** 7,
                                 admin_token="bench-admin-token-0123456789", secret="bench-secret-" + "x" * 32)
    db = open_database(uri, name="toolbox_bench_jobs", server_timeout_ms=5000)
    services = Services(config, db)
    await services.start()
    try:
        names = [f"bench-{n}" for n in range(max(SIZES))]
        for name in names:
            await services.agents.create(name)
        transactional = services.jobs.writes
        # one job first: the rate limit's document then exists (concurrent first takes of a
        # ``SharedWindow`` key race on its upsert, and the loser is refused as limited)
        await rate(services, names[:1], 1, 0.1)
        plain = PlainJobWrites(services.parts.jobs, services.parts.tasks)
        lines = []
        for size in SIZES:
            for creators in CREATORS:
                rates: dict[str, list[float]] = {"transaction": [], "plain": []}
                for _ in range(ROUNDS):
                    for mode, writes in (("transaction", transactional), ("plain", plain)):
                        services.jobs.writes = writes
                        rates[mode].append(await rate(services, names[:size], creators, seconds))
                with_tx, without = statistics.mean(rates["transaction"]), statistics.mean(rates["plain"])
                lines.append(f"job on {size:2d} agent(s), {creators} creator(s): {with_tx:7.1f} jobs/s in a "
                             f"transaction, {without:7.1f} without ({with_tx / without:.2f}×)")
                print(lines[-1], flush=True)
        return lines
    finally:
        services.jobs.writes = transactional
        await services.stop()
        db.close()


def main(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        database = DiskDatabase(os.environ.get("TOOLBOX_TEST_SECANTUSD", "secantusd-py"), workdir).start()
        try:
            asyncio.run(measure(database.uri, seconds))
        finally:
            database.close()


if __name__ == "__main__":
    main(float(sys.argv[1]) if sys.argv[1:] else 3.0)
