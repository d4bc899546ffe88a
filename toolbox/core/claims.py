"""Claiming tasks, one in flight per agent: the rule, and the two ways it is kept.

The deployed Go agent pairs task ids and outputs through one-slot queues
(shared/legacy-agent.md, 2b): if it is handed a second task while the first still runs,
results are stored under the wrong tasks.  So an agent gets a task only when it has
none ``dispatched``; the next one is handed out once the last one ended (result stored,
lost, put back).  The claim itself (queued → dispatched) stays one atomic write.

Which database toolBox runs on decides how the rule is kept (chosen once, in ``toolbox.server.variants``):

- ``SharedClaims`` (a real MongoDB, possibly several server processes): a unique
  partial index on ``tasks`` ``{agent: 1}``, covering only ``state: "dispatched"``,
  makes the database itself refuse a second claim for an agent — the claim's
  ``find_one_and_update`` fails with a duplicate-key error and changes nothing.  No
  process can get around it, whatever it has cached, and it costs no extra write or
  read: the index is maintained by the write that claims.  Chosen over a "busy"
  field on the agent document (two more writes per task: set and clear) and over a
  per-process lock (useless across processes).
- ``LocalClaims`` (the embedded database, one process): mongomock ignores partial
  filters and would refuse every second *queued* task too, so the index cannot be
  used there; but this process is the database's only user, so it knows every
  agent's task in flight and keeps the rule in memory.  It also keeps, per agent,
  the ids of tasks that may be queued and claims by ``_id``: the embedded database
  scans the whole collection for any other query (a 1,000-task fan-out would cost a
  million document checks).  The ids are candidates only: each claim still checks
  the state atomically.

Both are told when a task may be queued (``queued``) and when a task in flight ended
(``released``); the TaskService calls them and never asks which one it has.
"""

import bisect
import logging
from typing import Any

from toolbox.store.db import ASCENDING, Collection, Doc, DuplicateKeyError, ReturnDocument, index
from toolbox.clock import utcnow
from toolbox.task_states import DISPATCHED, LOST, QUEUED

log = logging.getLogger("toolbox.claims")

CLAIM_ORDER = [("created_at", ASCENDING), ("_id", ASCENDING)]
ONE_IN_FLIGHT_INDEX = "one_dispatched_per_agent"
_RESERVED = object()  # an agent's claim is under way (LocalClaims)


class LocalClaims:
    """The one-in-flight rule in memory, for a database this process alone uses."""

    def __init__(self) -> None:
        self._queued_ids: dict[str, list[int]] = {}  # agent -> sorted ids of tasks that may be queued for it
        self._in_flight: dict[str, Any] = {}  # agent -> id of its dispatched task (or _RESERVED)

    async def start(self, collection: Collection) -> None:
        """Nothing to prepare: the state starts with the (empty) database."""

    def queued(self, agent: str, task_id: int) -> None:
        bisect.insort(self._queued_ids.setdefault(agent, []), task_id)

    def in_flight(self, agent: str) -> Doc | None:
        """A filter for the agent's dispatched task, or None when it surely has none."""
        task_id = self._in_flight.get(agent)
        return None if task_id is None or task_id is _RESERVED else {"_id": task_id, "state": DISPATCHED}

    def released(self, agent: str, task_id: int) -> None:
        """The agent's task ``task_id`` is no longer dispatched."""
        if self._in_flight.get(agent) == task_id:
            del self._in_flight[agent]

    async def claim(self, collection: Collection, agent: str, fields: Doc) -> Doc | None:
        """Dispatch the agent's oldest queued task with ``fields`` set, or return None."""
        if agent in self._in_flight:
            return None
        candidates = self._queued_ids.get(agent)
        if not candidates:
            return None
        self._in_flight[agent] = _RESERVED  # no second claim while this one awaits
        doc = None
        try:
            while candidates and doc is None:
                task_id = candidates[0]
                doc = await collection.find_one_and_update(
                    {"_id": task_id, "agent": agent, "state": QUEUED}, {"$set": fields},
                    return_document=ReturnDocument.AFTER)
                if task_id in candidates:  # an unclaim may have put it back meanwhile
                    candidates.remove(task_id)
        finally:
            if doc is None:
                self._in_flight.pop(agent, None)
            else:
                self._in_flight[agent] = doc["_id"]
            if not candidates and self._queued_ids.get(agent) is candidates:
                self._queued_ids.pop(agent, None)
        return doc


class SharedClaims:
    """The one-in-flight rule kept by a unique partial index, for a shared MongoDB."""

    async def start(self, collection: Collection) -> None:
        """Create the index, first ending overlaps left by a server without the rule."""
        await self._end_overlaps(collection)
        await collection.create_indexes([index(
            [("agent", ASCENDING)], name=ONE_IN_FLIGHT_INDEX, unique=True,
            partialFilterExpression={"state": DISPATCHED})])

    async def _end_overlaps(self, collection: Collection) -> None:
        """Agents with several dispatched tasks (from an older toolBox): keep the newest.

        Their results cannot be told apart any more; the older ones end ``lost``.
        """
        newest: dict[str, Doc] = {}
        cursor = collection.find({"state": DISPATCHED}, {"agent": 1, "dispatched_at": 1})
        async for doc in cursor.sort([("dispatched_at", ASCENDING), ("_id", ASCENDING)]):
            older = newest.get(doc["agent"])
            newest[doc["agent"]] = doc
            if older is not None:
                log.warning("task %s: agent %s had several tasks in flight; ending the older ones lost",
                            older["_id"], doc["agent"])
                await collection.update_one(
                    {"_id": older["_id"], "state": DISPATCHED},
                    {"$set": {"state": LOST, "reason": "overlapping", "finished_at": utcnow(),
                              "outcome": LOST, "summary": "ended: another task was in flight on this agent"}})

    def queued(self, agent: str, task_id: int) -> None:
        """Other processes queue tasks too: the claim always asks the database."""

    def in_flight(self, agent: str) -> Doc | None:
        """A filter for the agent's dispatched task (only the database knows whether it has one)."""
        return {"agent": agent, "state": DISPATCHED}

    def released(self, agent: str, task_id: int) -> None:
        """The index follows the task's state: nothing to forget."""

    async def claim(self, collection: Collection, agent: str, fields: Doc) -> Doc | None:
        try:
            return await collection.find_one_and_update(
                {"agent": agent, "state": QUEUED}, {"$set": fields}, sort=CLAIM_ORDER,
                return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:
            return None  # the agent has a task in flight (claimed here or elsewhere)


# Either way of keeping the rule (``toolbox.server.variants`` picks one).
Claims = LocalClaims | SharedClaims
