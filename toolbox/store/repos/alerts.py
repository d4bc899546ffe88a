"""The alert collections: ``alert_rules``, ``alerts``, ``alert_channels`` and ``alert_notifications``.

``RuleRepo``: a schedule's rules, each with its evaluation state (``eval``: the last round
evaluated, the K-of-M window, the clean-round count) and an ``outbox`` of transitions not
yet written out.  ``advance`` is the once-per-round claim: it moves ``eval`` on only if it
still holds the round the caller read, and pushes the round's transition onto the outbox
in the same single-document write, so of two processes evaluating one round exactly one
wins, and what it decided survives it.  ``AlertRepo``: alerts (firing, then resolved)
with their history.  ``ChannelRepo``: channels, secrets included (never presented).
``NotificationRepo``: one document per message to a channel, keyed by what it is (alert,
kind, channel), inserted once whoever writes it, and claimed for delivery with a lease.
"""

import builtins
import datetime
from typing import Any

from toolbox.store.db import ASCENDING, DESCENDING, Collection, Doc, DuplicateKeyError, ReturnDocument, index

RULE_INDEXES = [index([("schedule_id", ASCENDING)], name="schedule"),
                index([("outbox.id", ASCENDING)], name="outbox", sparse=True)]
ALERT_INDEXES = [index([("state", ASCENDING), ("_id", DESCENDING)], name="state"),
                 index([("rule_id", ASCENDING), ("_id", DESCENDING)], name="rule")]
NOTIFICATION_INDEXES = [index([("state", ASCENDING), ("next_try_at", ASCENDING)], name="due"),
                        index([("alert_id", ASCENDING)], name="alert"),
                        index([("channel_id", ASCENDING), ("created_at", DESCENDING)], name="channel")]


async def _next_id(counters: Collection, name: str) -> int:
    doc = await counters.find_one_and_update({"_id": name}, {"$inc": {"value": 1}}, upsert=True,
                                             return_document=ReturnDocument.AFTER)
    return int(doc["value"])


class RuleRepo:
    """Rules by schedule, their evaluation state and outbox."""

    def __init__(self, collection: Collection, counters: Collection) -> None:
        self.collection = collection
        self.counters = counters

    async def ensure_indexes(self) -> None:
        await self.collection.create_indexes(RULE_INDEXES)

    async def insert(self, doc: Doc) -> Doc:
        doc = dict(doc, _id=await _next_id(self.counters, "alert_rule_id"))
        await self.collection.insert_one(doc)
        return doc

    async def get(self, rule_id: int) -> Doc | None:
        return await self.collection.find_one({"_id": rule_id})

    async def of_schedule(self, schedule_id: int, limit: int = 100) -> builtins.list[Doc]:
        cursor = self.collection.find({"schedule_id": schedule_id}).sort("_id", ASCENDING).limit(limit)
        return [doc async for doc in cursor]

    async def enabled(self, limit: int = 10000) -> builtins.list[Doc]:
        return [doc async for doc in self.collection.find({"enabled": True}).limit(limit)]

    async def with_outbox(self, limit: int = 100) -> builtins.list[Doc]:
        """Rules whose outbox still holds a transition (its writer may have died)."""
        return [doc async for doc in self.collection.find({"outbox.0": {"$exists": True}}).limit(limit)]

    async def update(self, rule_id: int, fields: Doc) -> Doc | None:
        return await self.collection.find_one_and_update({"_id": rule_id}, {"$set": fields},
                                                         return_document=ReturnDocument.AFTER)

    async def delete(self, rule_id: int) -> bool:
        return bool((await self.collection.delete_one({"_id": rule_id})).deleted_count)

    async def delete_schedule(self, schedule_id: int) -> None:
        await self.collection.delete_many({"schedule_id": schedule_id})

    async def advance(self, rule_id: int, expected_round: Any, state: Doc, entry: Doc | None) -> Doc | None:
        """Move the rule's ``eval`` from ``expected_round`` to ``state`` (pushing ``entry`` onto
        its outbox); None when another process evaluated the round first."""
        change: Doc = {"$set": {"eval": state}}
        if entry is not None:
            change["$push"] = {"outbox": entry}
        return await self.collection.find_one_and_update({"_id": rule_id, "eval.round_at": expected_round}, change,
                                                         return_document=ReturnDocument.AFTER)

    async def done_with(self, rule_id: int, entry_id: str) -> None:
        await self.collection.update_one({"_id": rule_id}, {"$pull": {"outbox": {"id": entry_id}}})

    async def next_alert_id(self) -> int:
        return await _next_id(self.counters, "alert_id")


class AlertRepo:
    """Alerts, newest first, by state and rule."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await self.collection.create_indexes(ALERT_INDEXES)

    async def put_new(self, doc: Doc) -> None:
        """Store a new alert once (a second writer of the same alert changes nothing)."""
        await self.collection.update_one({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True)

    async def get(self, alert_id: int) -> Doc | None:
        return await self.collection.find_one({"_id": alert_id})

    async def update(self, alert_id: int, fields: Doc, push: Doc | None = None) -> Doc | None:
        change: Doc = {"$set": fields}
        if push:
            change["$push"] = push
        return await self.collection.find_one_and_update({"_id": alert_id}, change,
                                                         return_document=ReturnDocument.AFTER)

    async def resolve(self, alert_id: int, fields: Doc) -> Doc | None:
        """Resolve a firing alert (None if it was resolved already)."""
        return await self.collection.find_one_and_update({"_id": alert_id, "state": "firing"},
                                                         {"$set": dict(fields, state="resolved")},
                                                         return_document=ReturnDocument.AFTER)

    async def list(self, state: str | None = None, rule_id: int | None = None, schedule_id: int | None = None,
                   limit: int = 50, before: int | None = None) -> builtins.list[Doc]:
        query: Doc = {}
        for key, value in (("state", state), ("rule_id", rule_id), ("schedule_id", schedule_id)):
            if value is not None:
                query[key] = value
        if before is not None:
            query["_id"] = {"$lt": before}
        return [doc async for doc in self.collection.find(query).sort("_id", DESCENDING).limit(limit)]

    async def claim_reminder(self, alert_id: int, count: int, now: datetime.datetime) -> Doc | None:
        """Take reminder number ``count + 1`` of a firing alert (one process wins it)."""
        return await self.collection.find_one_and_update(
            {"_id": alert_id, "state": "firing", "reminders": count},
            {"$set": {"reminded_at": now}, "$inc": {"reminders": 1}}, return_document=ReturnDocument.AFTER)

    async def count_firing(self) -> int:
        return int(await self.collection.count_documents({"state": "firing"}))


class ChannelRepo:
    """Channels by id."""

    def __init__(self, collection: Collection, counters: Collection) -> None:
        self.collection = collection
        self.counters = counters

    async def insert(self, doc: Doc) -> Doc:
        doc = dict(doc, _id=await _next_id(self.counters, "alert_channel_id"))
        await self.collection.insert_one(doc)
        return doc

    async def get(self, channel_id: int) -> Doc | None:
        return await self.collection.find_one({"_id": channel_id})

    async def list(self, limit: int = 200) -> builtins.list[Doc]:
        return [doc async for doc in self.collection.find({}).sort("_id", ASCENDING).limit(limit)]

    async def delete(self, channel_id: int) -> bool:
        return bool((await self.collection.delete_one({"_id": channel_id})).deleted_count)


class NotificationRepo:
    """Messages to channels: inserted once by key, claimed for delivery, their delivery log."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await self.collection.create_indexes(NOTIFICATION_INDEXES)

    async def add(self, doc: Doc) -> bool:
        """Store a notification once (``_id`` says what it is); False when it was there already."""
        try:
            await self.collection.insert_one(dict(doc))
        except DuplicateKeyError:
            return False
        return True

    async def claim(self, key: str, now: datetime.datetime, stale: datetime.datetime) -> Doc | None:
        """Take a pending notification (or one whose claimer went silent before ``stale``)."""
        return await self.collection.find_one_and_update(
            {"_id": key, "$or": [{"state": "pending"}, {"state": "sending", "claimed_at": {"$lt": stale}}]},
            {"$set": {"state": "sending", "claimed_at": now}}, return_document=ReturnDocument.AFTER)

    async def due(self, now: datetime.datetime, stale: datetime.datetime, limit: int = 50) -> builtins.list[str]:
        """Keys of notifications to deliver now: pending and due, or claimed by a silent process."""
        query = {"$or": [{"state": "pending", "next_try_at": {"$lte": now}},
                         {"state": "sending", "claimed_at": {"$lt": stale}}]}
        return [doc["_id"] async for doc in self.collection.find(query, {"_id": 1}).limit(limit)]

    async def save(self, key: str, fields: Doc) -> None:
        await self.collection.update_one({"_id": key}, {"$set": fields})

    async def get(self, key: str) -> Doc | None:
        return await self.collection.find_one({"_id": key})

    async def list(self, alert_id: int | None = None, channel_id: int | None = None,
                   limit: int = 100) -> builtins.list[Doc]:
        query: Doc = {}
        if alert_id is not None:
            query["alert_id"] = alert_id
        if channel_id is not None:
            query["channel_id"] = channel_id
        cursor = self.collection.find(query).sort([("created_at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return [doc async for doc in cursor]
