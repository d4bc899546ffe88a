"""The ``series_points`` and ``series_rollups`` collections: a schedule's points and their rollups.

``PointRepo``: one compact document per finished task of a round (``toolbox.watch.points``),
read by schedule, agent and time.  ``RollupRepo``: one document per schedule, agent, tier
(``hour``, ``6h`` or ``day``) and bucket start, written whole (an upsert by a key made of the four),
so rolling a bucket again gives the same document.  Both prune their oldest documents in
batches.  These are the shared database's; the embedded one keeps points and rollups in
memory behind the same contract (``toolbox.store.repos.series_memory``,
``tests/test_repo_series.py`` runs both).  (A MongoDB time-series collection would store
points in compressed buckets; these are plain collections: see docs/benchmarks.md.)
"""

import builtins
import datetime

from toolbox.store.db import ASCENDING, Collection, Doc, UpdateOne, index

POINT_INDEXES = [
    index([("schedule_id", ASCENDING), ("agent", ASCENDING), ("at", ASCENDING)], name="schedule_agent_at"),
    index([("schedule_id", ASCENDING), ("at", ASCENDING)], name="schedule_at"),
    index([("at", ASCENDING)], name="at"),
]
ROLLUP_INDEXES = [
    index([("schedule_id", ASCENDING), ("tier", ASCENDING), ("agent", ASCENDING), ("at", ASCENDING)],
          name="schedule_tier_agent_at"),
    # every agent's rollups of a range (the series read without ``agent``): the range and the
    # sort on the index, not a scan of the schedule's 400 days and a sort in memory
    index([("schedule_id", ASCENDING), ("tier", ASCENDING), ("at", ASCENDING)], name="schedule_tier_at"),
    index([("at", ASCENDING)], name="at"),
]


async def _prune(collection: Collection, query: Doc, batch: int) -> int:
    ids = [doc["_id"] async for doc in collection.find(query, {"_id": 1}).sort("at", ASCENDING).limit(batch)]
    if not ids:
        return 0
    return int((await collection.delete_many({"_id": {"$in": ids}})).deleted_count)


class PointRepo:
    """Points by schedule, agent and time."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await self.collection.create_indexes(POINT_INDEXES)

    async def add_point(self, point: Doc) -> None:
        await self.collection.insert_one(dict(point))

    async def read_range(self, schedule_id: int, start: datetime.datetime, end: datetime.datetime,
                         agent: str | None = None, limit: int = 100000) -> builtins.list[Doc]:
        """Points with ``start <= at < end``, in time order (of one agent when given)."""
        query: Doc = {"schedule_id": schedule_id, "at": {"$gte": start, "$lt": end}}
        if agent is not None:
            query["agent"] = agent
        cursor = self.collection.find(query, {"_id": 0}).sort("at", ASCENDING).limit(limit)
        return [doc async for doc in cursor]

    async def first_at(self, schedule_id: int) -> datetime.datetime | None:
        """When the schedule's oldest point is."""
        cursor = self.collection.find({"schedule_id": schedule_id}, {"at": 1}).sort("at", ASCENDING).limit(1)
        async for doc in cursor:
            return doc["at"]  # type: ignore[no-any-return]
        return None

    async def agents(self, schedule_id: int) -> builtins.list[str]:
        return sorted(await self.collection.distinct("agent", {"schedule_id": schedule_id}))

    async def count(self) -> int:
        return int(await self.collection.count_documents({}))

    async def prune_before(self, cutoff: datetime.datetime, batch: int = 1000) -> int:
        """Delete up to ``batch`` points older than ``cutoff``; how many went."""
        return await _prune(self.collection, {"at": {"$lt": cutoff}}, batch)

    async def delete_schedule(self, schedule_id: int) -> None:
        await self.collection.delete_many({"schedule_id": schedule_id})


class RollupRepo:
    """Hourly and daily rollups by schedule, agent and bucket start."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await self.collection.create_indexes(ROLLUP_INDEXES)

    async def put_rollups(self, rollups: builtins.list[Doc]) -> None:
        """Store rollups whole (``schedule_id``, ``agent``, ``tier``, ``at`` name each one)."""
        if not rollups:
            return
        # One bulk write (mongomock 4.3 refuses the ``sort`` PyMongo 4.11+ puts in bulk
        # updates, but this repository runs on a real MongoDB only: the embedded database's is
        # ``MemoryRollups``).
        updates = [UpdateOne({"_id": f"{r['schedule_id']}:{r['tier']}:{r['agent']}:{int(r['at'].timestamp())}"},
                             {"$set": r}, upsert=True) for r in rollups]
        await self.collection.bulk_write(updates, ordered=False)

    async def read_range(self, schedule_id: int, tier: str, start: datetime.datetime, end: datetime.datetime,
                         agent: str | None = None, limit: int = 100000) -> builtins.list[Doc]:
        query: Doc = {"schedule_id": schedule_id, "tier": tier, "at": {"$gte": start, "$lt": end}}
        if agent is not None:
            query["agent"] = agent
        cursor = self.collection.find(query, {"_id": 0}).sort("at", ASCENDING).limit(limit)
        return [doc async for doc in cursor]

    async def read_series(self, schedule_id: int, tier: str, start: datetime.datetime, end: datetime.datetime,
                          agent: str | None = None) -> dict[str, builtins.list[Doc]]:
        """``read_range``'s rollups by agent (the key, not in the documents), each agent's in
        time order: what a series read draws."""
        query: Doc = {"schedule_id": schedule_id, "tier": tier, "at": {"$gte": start, "$lt": end}}
        if agent is not None:
            query["agent"] = agent
        by_agent: dict[str, builtins.list[Doc]] = {}
        # on the ``schedule_tier_at`` index (``schedule_tier_agent_at`` with an agent); the
        # documents are grouped here as they come (sorting by agent too cost SecantusDB more)
        async for doc in self.collection.find(query, {"_id": 0}).sort("at", ASCENDING):
            by_agent.setdefault(doc.pop("agent"), []).append(doc)
        return by_agent

    async def count(self) -> int:
        return int(await self.collection.count_documents({}))

    async def prune_before(self, cutoff: datetime.datetime, batch: int = 1000) -> int:
        return await _prune(self.collection, {"at": {"$lt": cutoff}}, batch)

    async def delete_schedule(self, schedule_id: int) -> None:
        await self.collection.delete_many({"schedule_id": schedule_id})
