"""How long the sweeper spends telling a shared database who was seen: ``flush_last_seen``.

With a shared MongoDB each process stores its agents' last-seen times at every agent
refresh, so that the others know who is online; the sweeper waits for it.  This times one
flush of ``--agents`` freshly seen agents into a database of its own on ``--uri`` (made
and dropped here), and checks that every time was stored.

    python -m bench.last_seen --uri mongodb://127.0.0.1:PORT/ --agents 10000

127.0.0.1 only, as every bench here; run it on a fresh server (SecantusDB slows as it
keeps records of retryable writes).
"""

import argparse
import asyncio
import time
import uuid

from toolbox import clock
from toolbox.core.dispatch.agents import AgentRegistry
from toolbox.core.events.hub import EventHub
from toolbox.store.db import open_database
from toolbox.store.repos.agents import AgentRepo


class NobodyParked:
    def is_parked(self, name: str) -> bool:
        return False


async def flush_once(uri: str, agents: int) -> tuple[float, int]:
    db = open_database(uri, name=f"bench_last_seen_{uuid.uuid4().hex[:8]}")
    try:
        registry = AgentRegistry(AgentRepo(db["agents"]), EventHub(), NobodyParked(), offline_after=10, refresh=1.0)
        for i in range(agents):
            await registry.repo.insert({"_id": f"a{i}", "token_hash": "-"})
        await registry.reload()
        now = clock.utcnow()
        for i in range(agents):
            registry.mark_seen(f"a{i}", now)
        started = time.perf_counter()
        await registry.flush_last_seen()
        took = time.perf_counter() - started
        stored = sum(1 for doc in await registry.repo.all() if doc.get("last_seen") == now)
        return took, stored
    finally:
        await db.drop()
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", required=True, help="a MongoDB on 127.0.0.1 (a replica set is not needed)")
    parser.add_argument("--agents", type=int, default=10000)
    args = parser.parse_args()
    if "127.0.0.1" not in args.uri:
        parser.error("--uri: 127.0.0.1 only")
    took, stored = asyncio.run(flush_once(args.uri, args.agents))
    print(f"{args.agents} agents seen: flush_last_seen took {took * 1000:.0f} ms; {stored} stored")
    if stored != args.agents:
        raise SystemExit(f"only {stored} of {args.agents} last-seen times were stored")


if __name__ == "__main__":
    main()
