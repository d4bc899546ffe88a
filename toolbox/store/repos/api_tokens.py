"""The ``api_tokens`` collection: personal API tokens, kept as the SHA-256 of the token.

The same repository serves both databases (off the hot path: a bearer request is
answered from ``toolbox.people.api_tokens.TokenStore``'s cache).
"""

import datetime

from toolbox.store.db import ASCENDING, Collection, Doc, index


class TokenRepo:
    """API tokens in MongoDB (or the embedded database)."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await self.collection.create_indexes([
            index([("token_hash", ASCENDING)], name="token_hash", unique=True),
            index([("user_id", ASCENDING)], name="user_id"),
        ])

    async def all(self) -> list[Doc]:
        return [doc async for doc in self.collection.find({})]

    async def count_of(self, user_id: str) -> int:
        return await self.collection.count_documents({"user_id": user_id})

    async def insert(self, doc: Doc) -> None:
        await self.collection.insert_one(doc)

    async def of_user(self, user_id: str, limit: int) -> list[Doc]:
        """The user's tokens, oldest first, at most ``limit``."""
        cursor = self.collection.find({"user_id": user_id}).sort([("created_at", ASCENDING)])
        return await cursor.to_list(length=limit)

    async def get(self, token_id: str) -> Doc | None:
        return await self.collection.find_one({"_id": token_id})

    async def by_hash(self, token_hash: str) -> Doc | None:
        return await self.collection.find_one({"token_hash": token_hash})

    async def delete(self, token_id: str) -> Doc | None:
        """Delete the token; its document, or None when there was none."""
        return await self.collection.find_one_and_delete({"_id": token_id})

    async def mark_used(self, token_id: str, at: datetime.datetime) -> None:
        await self.collection.update_one({"_id": token_id}, {"$set": {"last_used_at": at}})
