"""The ``events`` collection: the event bus between server processes on one MongoDB
(shared database only; ``toolbox.core.events.bus.MongoBus`` writes events here and follows
the inserts with a change stream)."""

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from toolbox.store.db import ASCENDING, Database, Doc, index


class EventRepo:
    """Events in MongoDB, with the database's clock and change stream."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.collection = db["events"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_indexes([index([("at", ASCENDING)], name="at_1")])

    async def cluster_time(self) -> Any:
        """The database's current operation time (a BSON Timestamp)."""
        return await self.db.cluster_time()

    async def insert(self, batch: list[Doc]) -> None:
        """Store ``batch`` in order (a ``BulkWriteError`` says how many were written)."""
        await self.collection.insert_many(batch, ordered=True)

    async def all(self) -> list[Doc]:
        return [doc async for doc in self.collection.find({})]

    async def prune(self, before: float) -> int:
        """Delete events published before ``before`` (a Unix time); return how many."""
        return (await self.collection.delete_many({"at": {"$lt": before}})).deleted_count

    @contextlib.asynccontextmanager
    async def inserts(self, **options: Any) -> AsyncIterator[Any]:
        """A change stream of the inserts (``resume_after`` or ``start_at_operation_time``),
        closed on leaving the ``async with``."""
        async with self.collection.watch([{"$match": {"operationType": "insert"}}], **options) as stream:
            yield stream
