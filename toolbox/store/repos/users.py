"""The ``users`` collection: people, keyed on a generated id, found by Feishu's ``union_id``.

The same repository serves both databases (the collection is small and off the hot path:
on the embedded database it is mongomock's).
"""

import datetime
from toolbox.store.db import ASCENDING, Collection, Doc, DuplicateKeyError, ReturnDocument, index


class UserRepo:
    """Users in MongoDB (or the embedded database)."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await self.collection.create_indexes([
            index([("union_id", ASCENDING)], name="union_id", unique=True, sparse=True),
        ])

    async def get(self, user_id: str) -> Doc | None:
        return await self.collection.find_one({"_id": user_id})

    async def by_union_id(self, union_id: str) -> Doc | None:
        return await self.collection.find_one({"union_id": union_id})

    async def all(self, limit: int) -> list[Doc]:
        """Oldest first, at most ``limit``."""
        cursor = self.collection.find({}).sort([("created_at", ASCENDING), ("_id", ASCENDING)])
        return await cursor.to_list(length=limit)

    async def upsert_by_union_id(self, union_id: str, fields: Doc, on_insert: Doc) -> Doc:
        """Set ``fields`` on the user with ``union_id``, created with ``on_insert`` as well
        when there is none (tried twice: another process may create them meanwhile)."""
        update = {"$set": fields, "$setOnInsert": on_insert}
        try:
            return await self.collection.find_one_and_update(
                {"union_id": union_id}, update, upsert=True, return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:  # created a moment ago: the second try finds them
            return await self.collection.find_one_and_update(
                {"union_id": union_id}, update, upsert=True, return_document=ReturnDocument.AFTER)

    async def upsert(self, user_id: str, fields: Doc, on_insert: Doc) -> Doc:
        """Set ``fields`` on the user ``user_id``, created with ``on_insert`` as well."""
        return await self.collection.find_one_and_update(
            {"_id": user_id}, {"$set": fields, "$setOnInsert": on_insert},
            upsert=True, return_document=ReturnDocument.AFTER)

    async def update(self, user_id: str, changes: Doc) -> Doc | None:
        """Set ``changes``; the user after, or None when there is none."""
        return await self.collection.find_one_and_update(
            {"_id": user_id}, {"$set": changes}, return_document=ReturnDocument.AFTER)

    async def set_fields(self, user_id: str, changes: Doc) -> None:
        await self.collection.update_one({"_id": user_id}, {"$set": changes})

    async def count_active_admins(self) -> int:
        return await self.collection.count_documents({"role": "admin", "disabled": {"$ne": True}})

    async def end_session(self, user_id: str, sid: str, expires_at: datetime.datetime,
                          now: datetime.datetime) -> None:
        """Remember the ended session ``sid``; forget those that expired before ``now``."""
        await self.collection.update_one(
            {"_id": user_id}, {"$push": {"ended_sessions": {"sid": sid, "exp": expires_at}}})
        await self.collection.update_one({"_id": user_id}, {"$pull": {"ended_sessions": {"exp": {"$lt": now}}}})
