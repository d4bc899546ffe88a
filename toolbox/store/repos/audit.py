"""The ``audit`` collection: one entry per action, newest read first, pruned by age and count.

``AuditRepo`` prunes with queries (a sort to find the count cut-off), right for a shared
database that other processes write to.  ``KnownAudit``, the embedded database's, is the
same repository on mongomock that also remembers every entry's id, oldest first (this
process wrote them all), so it prunes by id instead of sorting or scanning the log.
"""

import collections
import dataclasses
import datetime
from typing import Any

from bson import ObjectId

from toolbox.store.db import ASCENDING, DESCENDING, Collection, Doc, index
from toolbox.store.filters import name_match


@dataclasses.dataclass(frozen=True)
class AuditQuery:
    """An audit list's filter; ``part``: names, actions and targets containing the text."""

    actor: str | None = None  # the actor's name or user id
    action: str | None = None
    target: str | None = None
    part: bool = False
    before: datetime.datetime | None = None
    after_entry: Doc | None = None  # entries older than this one (a page's end)

    def mongo(self) -> Doc:
        clauses: list[Doc] = []
        if self.actor is not None:
            actor = name_match(self.actor, self.part)
            clauses.append({"$or": [{"actor": actor}, {"actor_id": actor}]})
        for key, value in (("action", self.action), ("target", self.target)):
            if value is not None:
                clauses.append({key: name_match(value, self.part)})
        if self.after_entry is not None:
            at, entry_id = self.after_entry["at"], self.after_entry["_id"]
            clauses.append({"$or": [{"at": {"$lt": at}}, {"at": at, "_id": {"$lt": entry_id}}]})
        if self.before is not None:
            clauses.append({"at": {"$lt": self.before}})
        return {"$and": clauses} if clauses else {}


def slack(limit: int) -> int:
    """Pruning by count waits until the log is this far past its cap (a tenth)."""
    return max(1, limit // 10)


class AuditRepo:
    """Audit entries in MongoDB."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await self.collection.create_indexes([
            index([("at", DESCENDING)], name="at"),
            index([("actor", ASCENDING), ("at", DESCENDING)], name="actor_at"),
            index([("action", ASCENDING), ("at", DESCENDING)], name="action_at"),
        ])

    async def insert(self, entry: Doc) -> Any:
        """Store ``entry``; its new ``_id`` (also set on ``entry``)."""
        await self.collection.insert_one(entry)
        return entry["_id"]

    async def add_count(self, entry_id: Any, count: int) -> None:
        """Add ``count`` to the entry's ``details.count`` (refusals counted per minute)."""
        await self.collection.update_one({"_id": entry_id}, {"$inc": {"details.count": count}})

    async def get(self, entry_id: Any) -> Doc | None:
        return await self.collection.find_one({"_id": entry_id})

    async def newest(self, query: AuditQuery, limit: int) -> list[Doc]:
        cursor = self.collection.find(query.mongo()).sort([("at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return [entry async for entry in cursor]

    async def all(self) -> list[Doc]:
        return [entry async for entry in self.collection.find({})]

    async def prune(self, cutoff: datetime.datetime | None, limit: int) -> int:
        """Delete entries older than ``cutoff`` (when given) and, once the log is a tenth over
        ``limit`` (0: no cap), the oldest beyond it; return how many."""
        deleted = 0
        if cutoff is not None:
            deleted += (await self.collection.delete_many({"at": {"$lt": cutoff}})).deleted_count
        if limit and await self.collection.estimated_document_count() >= limit + slack(limit):
            cursor = self.collection.find({}, {"at": 1}).sort(
                [("at", DESCENDING), ("_id", DESCENDING)]).skip(limit).limit(1)
            newest_gone = await cursor.to_list(1)
            if newest_gone:
                at, entry_id = newest_gone[0]["at"], newest_gone[0]["_id"]
                result = await self.collection.delete_many(
                    {"$or": [{"at": {"$lt": at}}, {"at": at, "_id": {"$lte": entry_id}}]})
                deleted += result.deleted_count
        return deleted


class KnownAudit(AuditRepo):
    """``AuditRepo`` for a collection this process alone writes: it knows every entry's id."""

    def __init__(self, collection: Collection) -> None:
        super().__init__(collection)
        self._ids: collections.deque[ObjectId] | None = None  # oldest first, once read

    async def ensure_indexes(self) -> None:
        await super().ensure_indexes()
        if self._ids is None:
            cursor = self.collection.find({}, {"_id": 1}).sort([("at", ASCENDING), ("_id", ASCENDING)])
            self._ids = collections.deque([entry["_id"] async for entry in cursor])

    async def insert(self, entry: Doc) -> Any:
        entry_id = await super().insert(entry)
        if self._ids is not None:
            self._ids.append(entry_id)
        return entry_id

    async def prune(self, cutoff: datetime.datetime | None, limit: int) -> int:
        if self._ids is None:
            return await super().prune(cutoff, limit)
        ids = self._ids
        gone: list[ObjectId] = []
        if cutoff is not None:
            while ids and ids[0].generation_time < cutoff:
                gone.append(ids.popleft())
        if limit and len(ids) >= limit + slack(limit):
            gone += [ids.popleft() for _ in range(len(ids) - limit)]
        if not gone:
            return 0
        return (await self.collection.delete_many({"_id": {"$in": gone}})).deleted_count


# Either kind, as the audit log is handed one (``toolbox.server.variants``).
Audit = AuditRepo | KnownAudit
