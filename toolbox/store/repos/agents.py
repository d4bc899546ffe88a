"""The ``agents`` collection: one document per agent, ``_id`` its name.

``AgentRepo`` keeps them in MongoDB; ``MemoryAgents`` in this process (the embedded
database: a registration or a token reset is a write by name, which mongomock would
answer with a scan of the whole fleet).  Both raise ``DuplicateKeyError`` for a name
taken already.
"""

import datetime
from toolbox.store.db import ASCENDING, Collection, Doc, DuplicateKeyError, ReturnDocument, UpdateOne, index


class AgentRepo:
    """Agents in MongoDB."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await self.collection.create_indexes([index([("updated_at", ASCENDING)], name="updated_at_1")])

    async def all(self) -> list[Doc]:
        return [doc async for doc in self.collection.find({})]

    async def changed_since(self, since: datetime.datetime | None) -> list[Doc]:
        """Agents updated at or after ``since`` (every agent when it is None)."""
        query = {"updated_at": {"$gte": since}} if since else {}
        return [doc async for doc in self.collection.find(query)]

    async def get(self, name: str) -> Doc | None:
        return await self.collection.find_one({"_id": name})

    async def insert(self, doc: Doc) -> None:
        await self.collection.insert_one(doc)

    async def update(self, name: str, changes: Doc) -> Doc | None:
        """Set ``changes`` on the agent; its document after, or None when there is none."""
        return await self.collection.find_one_and_update(
            {"_id": name}, {"$set": changes}, return_document=ReturnDocument.AFTER)

    async def delete(self, name: str) -> bool:
        return bool((await self.collection.delete_one({"_id": name})).deleted_count)

    async def last_seen_of(self, names: list[str]) -> dict[str, datetime.datetime]:
        """The stored ``last_seen`` of those of ``names`` that have one."""
        cursor = self.collection.find({"_id": {"$in": names}}, {"last_seen": 1})
        return {doc["_id"]: doc["last_seen"] async for doc in cursor if doc.get("last_seen")}

    async def store_last_seen(self, seen: dict[str, datetime.datetime]) -> None:
        """Raise each agent's stored ``last_seen`` to the time given (never lower it)."""
        updates = [UpdateOne({"_id": name}, {"$max": {"last_seen": at}}) for name, at in seen.items()]
        if updates:  # one round trip for a fleet (the driver sends 100,000 at most per batch)
            await self.collection.bulk_write(updates, ordered=False)


class MemoryAgents:
    """Agents in a dict by name (the embedded database)."""

    def __init__(self) -> None:
        self._docs: dict[str, Doc] = {}

    async def ensure_indexes(self) -> None:
        """Nothing to create."""

    async def all(self) -> list[Doc]:
        return [_copy(doc) for doc in self._docs.values()]

    async def changed_since(self, since: datetime.datetime | None) -> list[Doc]:
        return [_copy(doc) for doc in self._docs.values()
                if since is None or (doc.get("updated_at") is not None and doc["updated_at"] >= since)]

    async def get(self, name: str) -> Doc | None:
        doc = self._docs.get(name)
        return None if doc is None else _copy(doc)

    async def insert(self, doc: Doc) -> None:
        if doc["_id"] in self._docs:
            raise DuplicateKeyError(f"E11000 duplicate key error: agents _id {doc['_id']!r}")
        self._docs[doc["_id"]] = _copy(doc)

    async def update(self, name: str, changes: Doc) -> Doc | None:
        doc = self._docs.get(name)
        if doc is None:
            return None
        doc.update(_copy(changes))
        return _copy(doc)

    async def delete(self, name: str) -> bool:
        return self._docs.pop(name, None) is not None

    async def last_seen_of(self, names: list[str]) -> dict[str, datetime.datetime]:
        return {name: self._docs[name]["last_seen"] for name in names
                if name in self._docs and self._docs[name].get("last_seen")}

    async def store_last_seen(self, seen: dict[str, datetime.datetime]) -> None:
        for name, at in seen.items():
            doc = self._docs.get(name)
            if doc is not None and (doc.get("last_seen") is None or doc["last_seen"] < at):
                doc["last_seen"] = at


def _copy(doc: Doc) -> Doc:
    """One level deeper than ``dict``: an agent's ``tags`` are a list the caller keeps."""
    return {key: list(value) if isinstance(value, list) else value for key, value in doc.items()}


# Either implementation, as the agent registry is handed one (``toolbox.server.variants``).
Agents = AgentRepo | MemoryAgents
