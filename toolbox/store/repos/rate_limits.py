"""The ``rate_limits`` collection: recent hits per key, for limits shared by every server
process on the database (``toolbox.core.limits.shared.SharedWindow``).

A key's document holds the times of its recent hits.  ``take`` adds one by a single
atomic update that matches only while fewer than ``limit`` are there (``hits.<limit-1>``
does not exist): two processes cannot both take the last slot.
"""

import datetime
from typing import Any

from toolbox.store.db import Collection, DuplicateKeyError


class RateLimitRepo:
    """Hit times per key, in MongoDB."""

    TRIES = 5  # writes to one key side by side: how often a take tries again (see take)

    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        """Keys are found by ``_id``."""

    async def take(self, key: str, now: datetime.datetime, cutoff: datetime.datetime, limit: int) -> bool:
        """Drop the key's hits up to ``cutoff``, then add ``now`` if fewer than ``limit`` are
        left; whether it was added."""
        await self.collection.update_one({"_id": key}, {"$pull": {"hits": {"$lte": cutoff}}})
        room = {"_id": key, f"hits.{limit - 1}": {"$exists": False}}
        # Without an error the hit is in: matched (room left) or created.  A duplicate key
        # means the document exists but did not match: it is full, or another request's
        # write (its creation, for a key's first hits side by side) got in the way.  Full
        # is read, not assumed; otherwise tried again.  (An update, not find_one_and_update:
        # nothing is read back, and SecantusDB 0.7 sometimes answers that upsert with no
        # document although it applied it, which read as "full".)
        for _ in range(self.TRIES):
            try:
                await self.collection.update_one(room, {"$push": {"hits": now}}, upsert=True)
            except DuplicateKeyError:
                if len(await self.hits(key)) >= limit:
                    return False
                continue
            return True
        return False

    async def hits(self, key: str) -> list[Any]:
        """The key's stored hit times."""
        doc = await self.collection.find_one({"_id": key})
        return list((doc or {}).get("hits", []))

    async def give_back(self, key: str, hit: Any) -> None:
        await self.collection.update_one({"_id": key}, {"$pull": {"hits": hit}})
