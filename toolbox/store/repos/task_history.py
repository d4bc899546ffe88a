"""The ``task_history`` collection: finished tasks, moved out of ``tasks`` by the sweeper.

``HistoryRepo`` keeps them in MongoDB; ``MemoryHistory`` in this process (the embedded
database), behind the same contract.  A copy may arrive twice (a move interrupted
between the copy and the delete is redone): ``insert_copies`` replaces what is there.
"""

from toolbox.store.db import DESCENDING, ASCENDING, BulkWriteError, Collection, Doc, ReturnDocument, index
from toolbox.store.repos.tasks import ANSWERABLE, TaskQuery
from toolbox.store.repos.tasks_memory import newest


def prune_slack(limit: int) -> int:
    """Pruning waits until the history has grown this far past its limit (a tenth): finding
    the cut-off sorts the history."""
    return max(1, limit // 10)


class HistoryRepo:
    """Finished tasks in MongoDB."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await self.collection.create_indexes([
            index([("agent", ASCENDING), ("_id", DESCENDING)], name="agent_id"),
            index([("state", ASCENDING), ("_id", DESCENDING)], name="state_id"),
            index([("job_id", ASCENDING)], name="job", sparse=True),
        ])

    async def insert_copies(self, docs: list[Doc]) -> None:
        """Store ``docs``, replacing copies left by an interrupted move."""
        try:
            await self.collection.insert_many(docs, ordered=False)
        except BulkWriteError as error:
            failed = {e["index"] for e in error.details.get("writeErrors", [])}
            for position in sorted(failed):
                doc = docs[position]
                await self.collection.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    async def complete(self, task_id: int, agent: str, fields: Doc) -> Doc | None:
        """Set ``fields`` (a late result) on the agent's task if it is dispatched or lost."""
        return await self.collection.find_one_and_update(
            {"_id": task_id, "agent": agent, "state": {"$in": ANSWERABLE}}, {"$set": fields},
            return_document=ReturnDocument.AFTER)

    async def get(self, task_id: int) -> Doc | None:
        return await self.collection.find_one({"_id": task_id})

    async def newest(self, query: TaskQuery, limit: int) -> list[Doc]:
        return await self.collection.find(query.mongo()).sort("_id", DESCENDING).to_list(limit)

    async def count(self) -> int:
        return await self.collection.count_documents({})

    async def prune(self, limit: int) -> int:
        """Keep the ``limit`` newest tasks (0 = keep all), once there are a tenth more;
        return how many went."""
        if not limit or await self.collection.estimated_document_count() <= limit + prune_slack(limit) - 1:
            return 0
        cursor = self.collection.find({}, {"_id": 1}).sort("_id", DESCENDING).skip(limit).limit(1)
        oldest_kept = await cursor.to_list(1)
        if not oldest_kept:
            return 0
        result = await self.collection.delete_many({"_id": {"$lte": oldest_kept[0]["_id"]}})
        return result.deleted_count


class MemoryHistory:
    """Finished tasks in a dict by id (the embedded database)."""

    def __init__(self) -> None:
        self._docs: dict[int, Doc] = {}

    async def ensure_indexes(self) -> None:
        """Nothing to create."""

    async def insert_copies(self, docs: list[Doc]) -> None:
        for doc in docs:
            self._docs[doc["_id"]] = dict(doc)

    async def complete(self, task_id: int, agent: str, fields: Doc) -> Doc | None:
        doc = self._docs.get(task_id)
        if doc is None or doc["agent"] != agent or doc["state"] not in ANSWERABLE:
            return None
        doc.update(fields)
        return dict(doc)

    async def get(self, task_id: int) -> Doc | None:
        doc = self._docs.get(task_id)
        return None if doc is None else dict(doc)

    async def newest(self, query: TaskQuery, limit: int) -> list[Doc]:
        return newest(self._docs.values(), query, limit)

    async def count(self) -> int:
        return len(self._docs)

    async def prune(self, limit: int) -> int:
        if not limit or len(self._docs) <= limit + prune_slack(limit) - 1:
            return 0
        gone = sorted(self._docs)[:len(self._docs) - limit]
        for task_id in gone:
            del self._docs[task_id]
        return len(gone)


# Either implementation, as the task service is handed one (``toolbox.server.variants``).
History = HistoryRepo | MemoryHistory
