"""The ``processes`` collection: each server process's heartbeat (shared database only).

``toolbox.core.jobs.owners.SharedOwners`` writes one here and takes over the jobs of a
process whose heartbeat went stale.
"""

import datetime

from toolbox.store.db import Collection


class ProcessRepo:
    """Heartbeats by process id, in MongoDB."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        """Heartbeats are found by ``_id`` and a scan of the few processes."""

    async def beat(self, instance: str, now: datetime.datetime) -> None:
        await self.collection.update_one({"_id": instance}, {"$set": {"seen": now}}, upsert=True)

    async def leave(self, instance: str) -> None:
        await self.collection.delete_one({"_id": instance})

    async def alive_since(self, cutoff: datetime.datetime) -> set[str]:
        """Ids of the processes whose heartbeat is not older than ``cutoff``."""
        return {doc["_id"] async for doc in self.collection.find({"seen": {"$gte": cutoff}}, {"_id": 1})}
