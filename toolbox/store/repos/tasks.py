"""The ``tasks`` collection: live tasks (queued, dispatched) and, briefly, finished ones.

``TaskRepo`` keeps them in MongoDB; ``MemoryTasks`` (``toolbox.store.repos.tasks_memory``)
keeps them in this process for the embedded database, behind the same contract.

The one-task-in-flight rule (shared/legacy-agent.md, 2b: an agent handed a second task
while the first runs stores results under the wrong tasks) is part of the contract:
``claim_next_for`` hands out nothing while the agent has a task dispatched.  Here a
unique partial index on ``{agent: 1}``, covering only ``state: "dispatched"``, makes the
database itself refuse a second claim (the claim's write fails with a duplicate-key
error and changes nothing): no process can get around it, whatever it has cached, and it
costs no extra write.  ``ensure_indexes`` first ends overlaps left by an older toolBox.
"""

import dataclasses
import datetime
import logging
from typing import Any

from toolbox.clock import utcnow
from toolbox.store.db import (ASCENDING, DESCENDING, BulkWriteError, Collection, Doc, DuplicateKeyError, ReturnDocument,
                              index)
from toolbox.store.filters import name_match
from toolbox.task_states import DISPATCHED, LOST, QUEUED, TERMINAL_STATES

log = logging.getLogger("toolbox.store.tasks")

CLAIM_ORDER = [("created_at", ASCENDING), ("_id", ASCENDING)]
ONE_IN_FLIGHT_INDEX = "one_dispatched_per_agent"
UNFINISHED = [QUEUED, DISPATCHED]
ANSWERABLE = [DISPATCHED, LOST]  # a result is stored for these (a late one for a lost task)
# What the sweeper reads of a dispatched task to decide whether its time is up.
BOUND_FIELDS = ("_id", "agent", "dispatched_at", "time_limit", "tool")


@dataclasses.dataclass(frozen=True)
class TaskQuery:
    """A task list's filter: every field given must match (``part``: agent names containing
    ``agent``, case-insensitive)."""

    agent: str | None = None
    part: bool = False
    state: str | None = None
    job_id: int | None = None
    before: int | None = None  # ids below this

    def mongo(self) -> Doc:
        query: Doc = {}
        if self.agent is not None:
            query["agent"] = name_match(self.agent, self.part)
        if self.state is not None:
            query["state"] = self.state
        if self.job_id is not None:
            query["job_id"] = self.job_id
        if self.before is not None:
            query["_id"] = {"$lt": self.before}
        return query


class TaskRepo:
    """Live tasks in MongoDB."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await self.collection.create_indexes([
            index([("agent", ASCENDING), ("state", ASCENDING)] + CLAIM_ORDER, name="claim"),
            index([("state", ASCENDING), ("created_at", ASCENDING)], name="state_created"),
            index([("state", ASCENDING), ("dispatched_at", ASCENDING)], name="state_dispatched"),
            index([("job_id", ASCENDING)], name="job", sparse=True),
            index([("agent", ASCENDING)], name="held", partialFilterExpression={"held": True}),
            index([("target", ASCENDING), ("state", ASCENDING), ("created_at", ASCENDING)], name="target_state",
                  partialFilterExpression={"target": {"$exists": True}}),
        ])
        await self._end_overlaps()
        await self.collection.create_indexes([index(
            [("agent", ASCENDING)], name=ONE_IN_FLIGHT_INDEX, unique=True,
            partialFilterExpression={"state": DISPATCHED})])

    async def _end_overlaps(self) -> None:
        """Agents with several dispatched tasks (from an older toolBox): keep the newest.

        Their results cannot be told apart any more; the older ones end ``lost``.
        """
        newest: dict[str, Doc] = {}
        cursor = self.collection.find({"state": DISPATCHED}, {"agent": 1, "dispatched_at": 1})
        async for doc in cursor.sort([("dispatched_at", ASCENDING), ("_id", ASCENDING)]):
            older = newest.get(doc["agent"])
            newest[doc["agent"]] = doc
            if older is not None:
                log.warning("task %s: agent %s had several tasks in flight; ending the older ones lost",
                            older["_id"], doc["agent"])
                await self.collection.update_one(
                    {"_id": older["_id"], "state": DISPATCHED},
                    {"$set": {"state": LOST, "reason": "overlapping", "finished_at": utcnow(),
                              "outcome": LOST, "summary": "ended: another task was in flight on this agent"}})

    # --- writes ---

    async def insert(self, docs: list[Doc], session: Any = None) -> None:
        """Store new tasks (DuplicateKeyError for an id already there); ``session``: in its
        transaction (``toolbox.store.repos.job_writes``)."""
        if not docs:
            return
        try:
            await self.collection.insert_many(docs, session=session)
        except BulkWriteError as error:
            errors = error.details.get("writeErrors") or [{}]
            if errors[0].get("code") == 11000:
                raise DuplicateKeyError(errors[0].get("errmsg", "duplicate key"), 11000) from None
            raise

    async def claim_next_for(self, agent: str, fields: Doc) -> Doc | None:
        """Set ``fields`` (state dispatched …) on the agent's oldest queued task and return
        it; None when it has none queued, or one dispatched already.  A task is released at
        its ``created_at`` (a spread round's tasks are created ahead): only those created
        by ``fields["dispatched_at"]`` are handed out."""
        # A stopped task still awaiting its result (``held``) counts as in flight.  Looked
        # for first, so a queued task is not seen ``dispatched`` for a moment while its
        # agent's stopped command still runs (a claim made and undone below).
        if await self.collection.find_one({"agent": agent, "held": True}, {"_id": 1}) is not None:
            return None
        query: Doc = {"agent": agent, "state": QUEUED}
        if fields.get("dispatched_at") is not None:
            query["created_at"] = {"$lte": fields["dispatched_at"]}  # the claim index's range
        try:
            doc = await self.collection.find_one_and_update(
                query, {"$set": fields}, sort=CLAIM_ORDER,
                return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:
            return None  # the agent has a task in flight (claimed here or elsewhere)
        if doc is None:
            return None
        # A task stopped between that look and this claim is held now: seen here, and the
        # claim is undone (a held task was dispatched before it was stopped, so the claim
        # could only succeed once the stop had taken it out of the dispatched index).
        if await self.collection.find_one({"agent": agent, "held": True}, {"_id": 1}) is not None:
            await self.put_back(doc["_id"], doc["dispatched_at"])
            return None
        return doc

    async def put_back(self, task_id: int, dispatched_at: datetime.datetime) -> Doc | None:
        """Queue again a task dispatched at ``dispatched_at`` (its response never arrived)."""
        return await self.collection.find_one_and_update(
            {"_id": task_id, "state": DISPATCHED, "dispatched_at": dispatched_at},
            {"$set": {"state": QUEUED, "dispatched_at": None, "registration": None}},
            return_document=ReturnDocument.AFTER)

    async def put_back_claim(self, agent: str, dispatched_at: datetime.datetime) -> Doc | None:
        """Queue again the agent's task claimed at ``dispatched_at``, if that claim was applied
        (the database went away before it answered: nobody was handed that task)."""
        return await self.collection.find_one_and_update(
            {"agent": agent, "state": DISPATCHED, "dispatched_at": dispatched_at},
            {"$set": {"state": QUEUED, "dispatched_at": None, "registration": None}},
            return_document=ReturnDocument.AFTER)

    async def complete(self, task_id: int, agent: str, fields: Doc) -> Doc | None:
        """Set ``fields`` (the result) on the agent's task if it is dispatched or lost."""
        return await self.collection.find_one_and_update(
            {"_id": task_id, "agent": agent, "state": {"$in": ANSWERABLE}},
            {"$set": fields, "$unset": {"partial": ""}}, return_document=ReturnDocument.AFTER)

    async def store_partial(self, task_id: int, agent: str, partial: Doc) -> None:
        """Keep ``partial`` (the output so far) on the agent's task while it is dispatched."""
        await self.collection.update_one({"_id": task_id, "agent": agent, "state": DISPATCHED},
                                         {"$set": {"partial": partial}})

    async def stop_dispatched(self, task_id: int, fields: Doc) -> Doc | None:
        """Set ``fields`` (canceled) on the task if it is dispatched, and mark it ``held``:
        in flight for the one-task rule until its agent's result comes (``answer_held``)."""
        return await self.collection.find_one_and_update(
            {"_id": task_id, "state": DISPATCHED}, {"$set": fields | {"held": True}},
            return_document=ReturnDocument.AFTER)

    async def answer_held(self, task_id: int, agent: str, fields: Doc) -> Doc | None:
        """Set ``fields`` (the late result) on the agent's held task and release it."""
        return await self.collection.find_one_and_update(
            {"_id": task_id, "agent": agent, "held": True}, {"$set": fields, "$unset": {"held": "", "partial": ""}},
            return_document=ReturnDocument.AFTER)

    async def release_held(self, agent: str) -> Doc | None:
        """Release the agent's held task without a result (its process is gone)."""
        return await self.collection.find_one_and_update(
            {"agent": agent, "held": True}, {"$unset": {"held": ""}}, return_document=ReturnDocument.AFTER)

    async def held_before(self, cutoff: datetime.datetime) -> list[Doc]:
        """Held tasks dispatched before ``cutoff`` (``BOUND_FIELDS`` only)."""
        cursor = self.collection.find({"held": True, "dispatched_at": {"$lt": cutoff}},
                                      {key: 1 for key in BOUND_FIELDS})
        return [doc async for doc in cursor]

    async def end_queued(self, task_id: int, fields: Doc) -> Doc | None:
        """Set ``fields`` (a terminal state) on the task if it is still queued."""
        return await self.collection.find_one_and_update(
            {"_id": task_id, "state": QUEUED}, {"$set": fields}, return_document=ReturnDocument.AFTER)

    async def end_dispatched(self, task_id: int, dispatched_at: datetime.datetime, fields: Doc) -> Doc | None:
        """Set ``fields`` on the task if it is still the dispatch of ``dispatched_at``."""
        return await self.collection.find_one_and_update(
            {"_id": task_id, "state": DISPATCHED, "dispatched_at": dispatched_at}, {"$set": fields},
            return_document=ReturnDocument.AFTER)

    async def end_in_flight(self, agent: str, fields: Doc) -> Doc | None:
        """Set ``fields`` on the agent's dispatched task, if it has one."""
        return await self.collection.find_one_and_update(
            {"agent": agent, "state": DISPATCHED}, {"$set": fields}, return_document=ReturnDocument.AFTER)

    async def delete_unchanged(self, docs: list[Doc]) -> None:
        """Delete each of ``docs`` that still has the state it had when read."""
        by_state: dict[str, list[int]] = {}
        for doc in docs:
            by_state.setdefault(doc["state"], []).append(doc["_id"])
        for state, ids in by_state.items():
            await self.collection.delete_many({"_id": {"$in": ids}, "state": state})

    # --- reads ---

    async def get(self, task_id: int) -> Doc | None:
        return await self.collection.find_one({"_id": task_id})

    async def newest(self, query: TaskQuery, limit: int) -> list[Doc]:
        """Tasks matching ``query``, highest id first, at most ``limit``."""
        return await self.collection.find(query.mongo()).sort("_id", DESCENDING).to_list(limit)

    async def queued_ids(self, agent: str) -> list[int]:
        return [doc["_id"] async for doc in self.collection.find({"agent": agent, "state": QUEUED}, {"_id": 1})]

    async def queued_before(self, cutoff: datetime.datetime) -> list[int]:
        """Ids of tasks queued before ``cutoff`` and still queued."""
        cursor = self.collection.find({"state": QUEUED, "created_at": {"$lt": cutoff}}, {"_id": 1})
        return [doc["_id"] async for doc in cursor]

    async def dispatched_before(self, cutoff: datetime.datetime) -> list[Doc]:
        """Tasks dispatched before ``cutoff`` and still dispatched (``BOUND_FIELDS`` only)."""
        cursor = self.collection.find({"state": DISPATCHED, "dispatched_at": {"$lt": cutoff}},
                                      {key: 1 for key in BOUND_FIELDS})
        return [doc async for doc in cursor]

    async def finished_ids(self, limit: int) -> list[int]:
        """Ids of up to ``limit`` tasks in a terminal state."""
        cursor = self.collection.find({"state": {"$in": list(TERMINAL_STATES)}, "held": {"$ne": True}}, {"_id": 1})
        return [doc["_id"] for doc in await cursor.to_list(limit)]

    async def finished(self, ids: list[int]) -> list[Doc]:
        """The tasks among ``ids`` that are (still) in a terminal state, whole."""
        cursor = self.collection.find({"_id": {"$in": ids}, "state": {"$in": list(TERMINAL_STATES)},
                                       "held": {"$ne": True}})
        return await cursor.to_list(len(ids))

    async def in_flight(self) -> list[Doc]:
        """Every dispatched task (``_id``, ``agent`` and ``dispatched_at``)."""
        cursor = self.collection.find({"state": DISPATCHED}, {"agent": 1, "dispatched_at": 1})
        return [doc async for doc in cursor]

    async def agents_with_queued(self, limit: int, now: datetime.datetime | None = None) -> set[str]:
        """Names of agents with queued tasks (released by ``now`` when given; at most ``limit`` tasks read)."""
        query: Doc = {"state": QUEUED}
        if now is not None:
            query["created_at"] = {"$lte": now}
        return {doc["agent"] async for doc in self.collection.find(query, {"agent": 1}).limit(limit)}

    async def count(self, state: str | None = None) -> int:
        return await self.collection.count_documents({} if state is None else {"state": state})

    async def unfinished_for(self, target: str) -> int:
        """How many queued or dispatched tasks aim at ``target``."""
        return await self.collection.count_documents({"target": target, "state": {"$in": UNFINISHED}})

    async def oldest_unfinished_for(self, target: str) -> Doc | None:
        """The oldest unfinished task aiming at ``target`` (``created_at`` and ``time_limit``)."""
        cursor = self.collection.find({"target": target, "state": {"$in": UNFINISHED}},
                                      {"created_at": 1, "time_limit": 1}).sort("created_at", ASCENDING)
        found = await cursor.to_list(1)
        return found[0] if found else None
