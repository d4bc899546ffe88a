"""The ``schedules`` and ``schedule_rounds`` collections: schedules, and what each round did.

``ScheduleRepo`` stores schedules (``_id`` from the ``schedule_id`` counter) and hands
out due rounds with one atomic claim each: ``claim_due`` moves a schedule's ``next_run``
from the value read to the next one with ``find_one_and_update({_id, next_run: read})``,
so of several processes reading the same due schedule exactly one wins the round.  The
round it claimed stays in ``pending`` until ``finish_round``; a claim older than its
lease is another process's to take over (``claim_stale``).  ``RoundRepo`` keeps one
entry per round: fired (with its job), skipped (with the reason) and the gaps.
"""

import builtins
import datetime

from toolbox.store.db import ASCENDING, DESCENDING, Collection, Doc, ReturnDocument, index

SCHEDULE_INDEXES = [
    index([("next_run", ASCENDING)], name="next_run"),
    index([("owner_id", ASCENDING), ("_id", DESCENDING)], name="owner"),
    index([("pending.claimed_at", ASCENDING)], name="pending", sparse=True),
]
ROUND_INDEXES = [
    index([("schedule_id", ASCENDING), ("at", DESCENDING)], name="schedule_at"),
    index([("at", ASCENDING)], name="at"),
]


class ScheduleRepo:
    """Schedules by id and owner, and the claims of their due rounds."""

    def __init__(self, collection: Collection, counters: Collection) -> None:
        self.collection = collection
        self.counters = counters

    async def ensure_indexes(self) -> None:
        await self.collection.create_indexes(SCHEDULE_INDEXES)

    async def next_id(self) -> int:
        doc = await self.counters.find_one_and_update(
            {"_id": "schedule_id"}, {"$inc": {"value": 1}}, upsert=True, return_document=ReturnDocument.AFTER)
        return int(doc["value"])

    async def insert(self, doc: Doc) -> Doc:
        doc = dict(doc, _id=await self.next_id())
        await self.collection.insert_one(doc)
        return doc

    async def get(self, schedule_id: int) -> Doc | None:
        return await self.collection.find_one({"_id": schedule_id})

    async def list(self, owner_id: str | None = None, limit: int = 50, before: int | None = None) -> builtins.list[Doc]:
        """Newest first; only ``owner_id``'s when given."""
        query: Doc = {}
        if owner_id is not None:
            query["owner_id"] = owner_id
        if before is not None:
            query["_id"] = {"$lt": before}
        return [doc async for doc in self.collection.find(query).sort("_id", DESCENDING).limit(limit)]

    async def ids(self, limit: int = 10000) -> builtins.list[int]:
        return [doc["_id"] async for doc in self.collection.find({}, {"_id": 1}).limit(limit)]

    async def update(self, schedule_id: int, fields: Doc) -> Doc | None:
        return await self.collection.find_one_and_update(
            {"_id": schedule_id}, {"$set": fields}, return_document=ReturnDocument.AFTER)

    async def delete(self, schedule_id: int) -> bool:
        return (await self.collection.delete_one({"_id": schedule_id})).deleted_count == 1

    # --- rounds ---

    async def due(self, now: datetime.datetime, limit: int = 100) -> builtins.list[Doc]:
        """Enabled schedules whose next run is at or before ``now``, the most overdue first."""
        cursor = self.collection.find({"next_run": {"$lte": now}, "enabled": True}).sort("next_run", ASCENDING)
        return [doc async for doc in cursor.limit(limit)]

    async def next_due(self) -> datetime.datetime | None:
        """The earliest next run of an enabled schedule."""
        cursor = self.collection.find({"next_run": {"$ne": None}, "enabled": True}, {"next_run": 1})
        async for doc in cursor.sort("next_run", ASCENDING).limit(1):
            return doc["next_run"]  # type: ignore[no-any-return]
        return None

    async def claim_due(self, schedule_id: int, expected: datetime.datetime, next_run: datetime.datetime | None,
                        pending: Doc) -> Doc | None:
        """Take the round due at ``expected``: ``next_run`` becomes the next one and ``pending``
        the round being fired.  The schedule document, or None when another process took it."""
        return await self.collection.find_one_and_update(
            {"_id": schedule_id, "next_run": expected, "enabled": True},
            {"$set": {"next_run": next_run, "pending": pending}}, return_document=ReturnDocument.AFTER)

    async def stale_claims(self, before: datetime.datetime, limit: int = 20) -> builtins.list[Doc]:
        """Schedules whose pending round was claimed before ``before`` (its process is gone)."""
        return [doc async for doc in self.collection.find({"pending.claimed_at": {"$lt": before}}).limit(limit)]

    async def claim_stale(self, schedule_id: int, claimed_at: datetime.datetime, now: datetime.datetime,
                          by: str) -> Doc | None:
        """Take over a stale pending round (one process wins, as with ``claim_due``)."""
        return await self.collection.find_one_and_update(
            {"_id": schedule_id, "pending.claimed_at": claimed_at},
            {"$set": {"pending.claimed_at": now, "pending.by": by}}, return_document=ReturnDocument.AFTER)

    async def finish_round(self, schedule_id: int, round_at: datetime.datetime, last_round: Doc,
                           counts: dict[str, int]) -> None:
        """The pending round at ``round_at`` is done: record it as the last one, add to the counts."""
        await self.collection.update_one(
            {"_id": schedule_id, "pending.at": round_at},
            {"$unset": {"pending": ""}, "$set": {"last_round": last_round},
             "$inc": {f"rounds.{key}": value for key, value in counts.items()}})

    async def roll_marks(self, limit: int = 10000) -> builtins.list[Doc]:
        """``{_id, rolled_until}`` of every schedule (how far its rollups are complete)."""
        return [doc async for doc in self.collection.find({}, {"rolled_until": 1}).limit(limit)]

    async def set_rolled(self, schedule_id: int, until: datetime.datetime) -> None:
        """Rollups of this schedule are complete up to ``until``."""
        await self.collection.update_one({"_id": schedule_id}, {"$set": {"rolled_until": until}})


class RoundRepo:
    """One entry per round of a schedule: fired, skipped, and why; the gaps."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await self.collection.create_indexes(ROUND_INDEXES)

    async def add(self, entry: Doc) -> None:
        await self.collection.insert_one(dict(entry))

    async def list(self, schedule_id: int, limit: int = 50, before: datetime.datetime | None = None) -> builtins.list[Doc]:
        """Newest first."""
        query: Doc = {"schedule_id": schedule_id}
        if before is not None:
            query["at"] = {"$lt": before}
        cursor = self.collection.find(query).sort("at", DESCENDING).limit(limit)
        return [doc async for doc in cursor]

    async def delete_schedule(self, schedule_id: int) -> None:
        await self.collection.delete_many({"schedule_id": schedule_id})

    async def prune_before(self, cutoff: datetime.datetime, batch: int = 500) -> int:
        """Delete up to ``batch`` entries older than ``cutoff``; how many went."""
        ids = [doc["_id"] async for doc in
               self.collection.find({"at": {"$lt": cutoff}}, {"_id": 1}).sort("at", ASCENDING).limit(batch)]
        if not ids:
            return 0
        return int((await self.collection.delete_many({"_id": {"$in": ids}})).deleted_count)
