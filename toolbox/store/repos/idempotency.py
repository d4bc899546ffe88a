"""The ``idempotency`` collection: the answers of creations sent with an ``Idempotency-Key``.

A key's document is written before the creation (``reserve``: ``state: pending``, one
insert, so two requests with one key cannot both go on) and filled in with the answer
after it (``answer``: ``state: done``, the status and the body).  Documents are dropped
a day after they were written (a TTL index on ``at``); the embedded database keeps
them until the process ends.
"""

import datetime

from toolbox.store.db import ASCENDING, Collection, Doc, DuplicateKeyError, index

KEPT_SECONDS = 24 * 3600


class IdempotencyRepo:
    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await self.collection.create_indexes([index([("at", ASCENDING)], name="at_ttl",
                                                    expireAfterSeconds=KEPT_SECONDS)])

    async def reserve(self, key: str, fingerprint: str, now: datetime.datetime) -> Doc | None:
        """Reserve ``key`` for a request whose body hashes to ``fingerprint``: None when it
        was free (now reserved), else the document already there."""
        try:
            await self.collection.insert_one({"_id": key, "state": "pending", "fingerprint": fingerprint, "at": now})
        except DuplicateKeyError:
            found: Doc | None = await self.collection.find_one({"_id": key})
            return found or {"_id": key, "state": "pending", "fingerprint": fingerprint, "at": now}
        return None

    async def take_over(self, key: str, stale_before: datetime.datetime, now: datetime.datetime) -> bool:
        """Take a reservation left pending since before ``stale_before`` (its request died)."""
        result = await self.collection.update_one({"_id": key, "state": "pending", "at": {"$lt": stale_before}},
                                                  {"$set": {"at": now}})
        return bool(result.modified_count)

    async def answer(self, key: str, status: int, body: Doc) -> None:
        await self.collection.update_one({"_id": key}, {"$set": {"state": "done", "status": status, "body": body}})

    async def release(self, key: str) -> None:
        """Free a reservation whose creation failed (so that a retry creates)."""
        await self.collection.delete_one({"_id": key, "state": "pending"})
