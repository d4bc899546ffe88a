"""Tasks: ids, the queued → dispatched → done lifecycle, timeouts and history.

Two collections keep the hot path small whatever the history size:

- ``tasks`` holds live tasks (queued, dispatched) and, briefly, finished ones;
  create, claim and complete are one write each, on its indexes.
- ``task_history`` holds finished tasks.  The sweeper moves them there in batches
  (an upsert then a conditional delete, so a move interrupted half-way is redone,
  never lost) and, when a history limit is set, prunes the oldest.

Ids come from an atomic counter, reserved ``id_block`` at a time per process.

On the embedded database (private to this process) the service also keeps, per agent,
the ids of tasks that may be queued for it, and claims by ``_id``: that database
scans the whole collection for any other query, so a claim by agent and state would
cost a scan per fetch (a fan-out of 1,000 tasks: a million document checks).  The
ids are only candidates: each claim still checks the state atomically.  With a
shared MongoDB the ``claim`` index answers the query, and other processes queue tasks
this one never sees, so the claim always asks the database.
"""

import asyncio
import bisect
import datetime
import logging

from toolbox import models
from toolbox.db import ASCENDING, DESCENDING, BulkWriteError, ReturnDocument, index
from toolbox.errors import Conflict, NotFound, ValidationError
from toolbox.models import CANCELED, DELIVERY_TIMEOUT, DISPATCHED, DONE, LOST, QUEUED, TERMINAL_STATES

log = logging.getLogger("toolbox.tasks")

CLAIM_ORDER = [("created_at", ASCENDING), ("_id", ASCENDING)]
ARCHIVE_BATCH = 1000


class TaskService:
    """Creates tasks, hands them to agents, stores results and ends stale ones."""

    def __init__(self, db, events, config):
        self.live = db["tasks"]
        self.history = db["task_history"]
        self.counters = db["counters"]
        self.events = events
        self.config = config
        self.notify = lambda agent: None  # set by the dispatcher
        self._ids = iter(())
        self._id_lock = asyncio.Lock()
        # agent -> sorted ids of tasks that may be queued for it (embedded database only;
        # kept with the database object, so every service on it sees the same).
        local = getattr(db, "local_state", None)
        self._queued_ids = local.setdefault("queued_ids", {}) if local is not None else None

    def _may_be_queued(self, agent, task_id):
        if self._queued_ids is not None:
            bisect.insort(self._queued_ids.setdefault(agent, []), task_id)

    async def start(self):
        await self.live.create_indexes([
            index([("agent", ASCENDING), ("state", ASCENDING)] + CLAIM_ORDER, name="claim"),
            index([("state", ASCENDING), ("created_at", ASCENDING)], name="state_created"),
            index([("state", ASCENDING), ("dispatched_at", ASCENDING)], name="state_dispatched"),
            index([("job_id", ASCENDING)], name="job", sparse=True),
        ])
        await self.history.create_indexes([
            index([("agent", ASCENDING), ("_id", DESCENDING)], name="agent_id"),
            index([("state", ASCENDING), ("_id", DESCENDING)], name="state_id"),
            index([("job_id", ASCENDING)], name="job", sparse=True),
        ])

    # --- ids ---

    async def next_id(self):
        """The next task id (>= 1), unique across every process on the database."""
        async with self._id_lock:
            task_id = next(self._ids, None)
            if task_id is None:
                block = self.config.id_block
                doc = await self.counters.find_one_and_update(
                    {"_id": "task_id"}, {"$inc": {"value": block}},
                    upsert=True, return_document=ReturnDocument.AFTER)
                self._ids = iter(range(doc["value"] - block + 1, doc["value"] + 1))
                task_id = next(self._ids)
            return task_id

    # --- lifecycle ---

    async def create(self, agents, command, **extra):
        """Queue one task per agent name (already validated); return the documents."""
        now = models.utcnow()
        docs = []
        for agent in agents:
            doc = {"_id": await self.next_id(), "agent": agent, "command": command,
                   "state": QUEUED, "created_at": now}
            doc.update({key: value for key, value in extra.items() if value is not None})
            docs.append(doc)
        if docs:
            await self.live.insert_many(docs)
        for doc in docs:
            self._may_be_queued(doc["agent"], doc["_id"])
            self.events.publish("task.queued", models.task_model(doc))
            self.notify(doc["agent"])
        return docs

    async def claim(self, agent):
        """Atomically take the agent's oldest queued task (marking it dispatched), or None."""
        update = {"$set": {"state": DISPATCHED, "dispatched_at": models.utcnow()}}
        if self._queued_ids is None:
            return await self.live.find_one_and_update(
                {"agent": agent, "state": QUEUED}, update, sort=CLAIM_ORDER,
                return_document=ReturnDocument.AFTER)
        candidates = self._queued_ids.get(agent)
        while candidates:
            task_id = candidates[0]
            doc = await self.live.find_one_and_update(
                {"_id": task_id, "agent": agent, "state": QUEUED}, update,
                return_document=ReturnDocument.AFTER)
            if task_id in candidates:  # a concurrent claim may have taken it off already
                candidates.remove(task_id)
            if doc is not None:
                break
        else:
            doc = None
        if not candidates and self._queued_ids.get(agent) is candidates:
            self._queued_ids.pop(agent, None)
        return doc

    async def unclaim(self, doc):
        """Put back a claimed task whose response never reached its agent."""
        back = await self.live.find_one_and_update(
            {"_id": doc["_id"], "state": DISPATCHED, "dispatched_at": doc["dispatched_at"]},
            {"$set": {"state": QUEUED, "dispatched_at": None}},
            return_document=ReturnDocument.AFTER)
        if back is not None:
            self._may_be_queued(doc["agent"], doc["_id"])
            log.info("task %s: response to %s not delivered; queued again", doc["_id"], doc["agent"])
            self.notify(doc["agent"])
        return back

    def delivered(self, doc):
        """Announce that a claimed task's response was written to its agent."""
        self.events.publish("task.dispatched", models.task_model(doc))

    async def complete(self, agent, task_id, result, exit_code=None, duration_ms=None,
                       truncated=False, recovered=False, repaired=False):
        """Store an agent's result.  Return "stored" or "duplicate"; raise NotFound / Conflict."""
        fields = {"state": DONE, "finished_at": models.utcnow(), "result": result,
                  "result_truncated": bool(truncated), "result_recovered": bool(recovered),
                  "result_repaired": bool(repaired)}
        if exit_code is not None:
            fields["exit_code"] = exit_code
        if duration_ms is not None:
            fields["duration_ms"] = duration_ms
        query = {"_id": task_id, "agent": agent, "state": {"$in": [DISPATCHED, LOST]}}
        for collection in (self.live, self.history):  # a lost task may be in history already
            doc = await collection.find_one_and_update(
                query, {"$set": fields}, return_document=ReturnDocument.AFTER)
            if doc is not None:
                self.events.publish("task.done", models.task_model(doc))
                return "stored"
        doc = await self.find(task_id)
        if doc is None or doc["agent"] != agent or doc["state"] != DONE:
            raise NotFound(f"task {task_id} was not delivered to agent {agent}")
        same = (doc.get("result") == result and doc.get("exit_code") == fields.get("exit_code"))
        if same:
            return "duplicate"
        raise Conflict(f"task {task_id} already has a different result")

    async def cancel(self, task_id):
        """Cancel a queued task; a task already delivered cannot be called back."""
        doc = await self.live.find_one_and_update(
            {"_id": task_id, "state": QUEUED},
            {"$set": {"state": CANCELED, "finished_at": models.utcnow()}},
            return_document=ReturnDocument.AFTER)
        if doc is not None:
            self.events.publish("task.canceled", models.task_model(doc))
            return doc
        doc = await self.find(task_id)
        if doc is None:
            raise NotFound(f"task not found: {task_id}")
        raise Conflict(f"task {task_id} is {doc['state']}: only queued tasks can be canceled")

    async def cancel_agent(self, agent):
        """Cancel every queued task of an agent (it is being deleted)."""
        canceled = []
        async for doc in self.live.find({"agent": agent, "state": QUEUED}, {"_id": 1}):
            try:
                canceled.append(await self.cancel(doc["_id"]))
            except (NotFound, Conflict):
                pass  # dispatched or canceled meanwhile
        return canceled

    # --- reading ---

    async def find(self, task_id):
        """A task by id, live or finished, or None."""
        doc = await self.live.find_one({"_id": task_id})
        if doc is None:
            doc = await self.history.find_one({"_id": task_id})
        return doc

    async def list(self, agent=None, state=None, limit=50, before=None, job_id=None):
        """Newest first, at most ``limit``, with ids below ``before``."""
        query = {}
        if agent is not None:
            query["agent"] = agent
        if state is not None:
            if state not in models.TASK_STATES:
                raise ValidationError(f"state: must be one of {', '.join(models.TASK_STATES)}")
            query["state"] = state
        if job_id is not None:
            query["job_id"] = job_id
        if before is not None:
            query["_id"] = {"$lt": before}
        docs = {}
        for collection in (self.live, self.history):
            cursor = collection.find(query).sort("_id", DESCENDING).limit(limit)
            async for doc in cursor:
                docs.setdefault(doc["_id"], doc)  # live wins over a stale history copy
        return sorted(docs.values(), key=lambda doc: doc["_id"], reverse=True)[:limit]

    # --- sweeping ---

    async def expire(self, now=None):
        """End tasks that waited too long: queued → delivery_timeout, dispatched → lost."""
        now = now or models.utcnow()
        ended = []
        rules = [
            (QUEUED, "created_at", self.config.delivery_timeout, DELIVERY_TIMEOUT),
            (DISPATCHED, "dispatched_at", self.config.task_timeout, LOST),
        ]
        for state, stamp, timeout, final in rules:
            cutoff = now - datetime.timedelta(seconds=timeout)
            async for stale in self.live.find({"state": state, stamp: {"$lt": cutoff}}, {"_id": 1}):
                doc = await self.live.find_one_and_update(
                    {"_id": stale["_id"], "state": state, stamp: {"$lt": cutoff}},
                    {"$set": {"state": final, "finished_at": now}},
                    return_document=ReturnDocument.AFTER)
                if doc is not None:
                    ended.append(doc)
                    self.events.publish(f"task.{final}", models.task_model(doc))
        return ended

    async def archive(self):
        """Move finished tasks to history; return how many moved.

        Copy first, then delete only what still has the state that was copied: a task
        that changed meanwhile (a late result for a lost task) is copied again next time.
        """
        docs = await self.live.find({"state": {"$in": list(TERMINAL_STATES)}}).to_list(ARCHIVE_BATCH)
        if not docs:
            return 0
        try:
            await self.history.insert_many(docs, ordered=False)
        except BulkWriteError as error:
            failed = {e["index"] for e in error.details.get("writeErrors", [])}
            for position in sorted(failed):  # copied before by an interrupted archive
                doc = docs[position]
                await self.history.replace_one({"_id": doc["_id"]}, doc, upsert=True)
        by_state = {}
        for doc in docs:
            by_state.setdefault(doc["state"], []).append(doc["_id"])
        for state, ids in by_state.items():
            await self.live.delete_many({"_id": {"$in": ids}, "state": state})
        await self.prune()
        return len(docs)

    async def prune(self):
        """Keep about ``history_limit`` finished tasks (0 = keep all): at most a tenth more."""
        limit = self.config.effective_history_limit
        if not limit:
            return 0
        # Prune in steps: finding the cut-off sorts the history (a scan on the embedded
        # database), so wait until it has grown a tenth past the limit.
        slack = max(1, limit // 10)
        if await self.history.estimated_document_count() <= limit + slack - 1:
            return 0
        cursor = self.history.find({}, {"_id": 1}).sort("_id", DESCENDING).skip(limit).limit(1)
        oldest_kept = await cursor.to_list(1)
        if not oldest_kept:
            return 0
        result = await self.history.delete_many({"_id": {"$lte": oldest_kept[0]["_id"]}})
        return result.deleted_count

    async def queued_agents(self, limit=10000):
        """Names of agents that have queued tasks (for waking fetches parked elsewhere)."""
        agents = set()
        async for doc in self.live.find({"state": QUEUED}, {"agent": 1}).limit(limit):
            agents.add(doc["agent"])
        return agents

