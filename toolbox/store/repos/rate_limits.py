"""The ``rate_limits`` collection: recent hits per key, for limits shared by every server
process on the database (``toolbox.core.limits.shared.SharedWindow``).

A key's document holds the times of its recent hits.  ``take`` adds one by a single
atomic update that matches only while fewer than ``limit`` are there (``hits.<limit-1>``
does not exist): two processes cannot both take the last slot.
"""

import datetime
from typing import Any

from toolbox.store.db import Collection, DuplicateKeyError, ReturnDocument


class RateLimitRepo:
    """Hit times per key, in MongoDB."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        """Keys are found by ``_id``."""

    async def take(self, key: str, now: datetime.datetime, cutoff: datetime.datetime, limit: int) -> bool:
        """Drop the key's hits up to ``cutoff``, then add ``now`` if fewer than ``limit`` are
        left; whether it was added."""
        await self.collection.update_one({"_id": key}, {"$pull": {"hits": {"$lte": cutoff}}})
        room = {"_id": key, f"hits.{limit - 1}": {"$exists": False}}
        try:
            doc = await self.collection.find_one_and_update(
                room, {"$push": {"hits": now}}, upsert=True, return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:  # full: the upsert tried to create the existing document
            return False
        return doc is not None

    async def hits(self, key: str) -> list[Any]:
        """The key's stored hit times."""
        doc = await self.collection.find_one({"_id": key})
        return list((doc or {}).get("hits", []))

    async def give_back(self, key: str, hit: Any) -> None:
        await self.collection.update_one({"_id": key}, {"$pull": {"hits": hit}})
