"""The ``counters`` collection: atomic counters for task and job ids (one document each)."""

from toolbox.store.db import Collection, ReturnDocument


class CounterRepo:
    """Named counters in MongoDB (or the embedded database: two small documents)."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        """Counters are found by ``_id`` alone."""

    async def advance(self, name: str, step: int = 1) -> int:
        """Add ``step`` to the counter ``name`` (created at 0) and return its new value."""
        doc = await self.collection.find_one_and_update(
            {"_id": name}, {"$inc": {"value": step}}, upsert=True, return_document=ReturnDocument.AFTER)
        return int(doc["value"])

    async def ping(self) -> None:
        """A trivial read: raises when the store does not answer."""
        await self.collection.find_one({"_id": "__ping__"})
