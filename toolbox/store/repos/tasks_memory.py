"""Live tasks in this process's memory: ``TaskRepo``'s contract for the embedded database.

The embedded database (mongomock) runs every query as a scan of the collection and
copies documents in pure Python several times per call; a 1,000-agent fan-out would cost
a million document checks per round of claims.  Here the tasks live in a dict by id,
with the two indexes the hot path needs kept beside it: per agent, its queued tasks in
claim order (``created_at``, ``_id``), and its dispatched task (the one-in-flight rule,
which the shared database keeps by a unique partial index).  Every write goes through
``_set``, which keeps both up to date; the embedded database is one process's, so each
method runs without awaiting anything in between and is atomic as a MongoDB write is.

Documents are copied in and out (one level deep, as toolBox's task fields are plain
values, ``parsed`` aside, which nothing changes in place).
"""

import bisect
import datetime
import heapq
import re
from typing import Any

from toolbox.store.db import Doc, DuplicateKeyError
from toolbox.store.repos.tasks import ANSWERABLE, BOUND_FIELDS, UNFINISHED, TaskQuery, TaskRepo
from toolbox.task_states import DISPATCHED, QUEUED, TERMINAL_STATES


def matches(query: TaskQuery, doc: Doc) -> bool:
    """Whether ``doc`` passes ``query`` (what ``TaskQuery.mongo`` asks of MongoDB)."""
    if query.agent is not None:
        agent = doc.get("agent")
        if query.part:
            if not isinstance(agent, str) or not re.search(re.escape(query.agent), agent, re.IGNORECASE):
                return False
        elif agent != query.agent:
            return False
    if query.state is not None and doc.get("state") != query.state:
        return False
    if query.job_id is not None and doc.get("job_id") != query.job_id:
        return False
    return query.before is None or doc["_id"] < query.before


def newest(docs: Any, query: TaskQuery, limit: int) -> list[Doc]:
    """The ``limit`` highest-id documents of ``docs`` that match, copied."""
    found = heapq.nlargest(limit, (doc for doc in docs if matches(query, doc)), key=lambda doc: doc["_id"])
    return [dict(doc) for doc in found]


def _claim_key(doc: Doc) -> tuple[Any, int]:
    return (doc["created_at"], doc["_id"])


class MemoryTasks:
    """Live tasks in a dict, with each agent's queue and task in flight beside it."""

    def __init__(self) -> None:
        self._docs: dict[int, Doc] = {}
        self._queued: dict[str, list[tuple[Any, int]]] = {}  # agent -> claim keys of its queued tasks
        self._in_flight: dict[str, int] = {}  # agent -> id of its dispatched task
        # agent -> id of its stopped task still awaiting the agent's result (``held``):
        # canceled, yet in flight for the one-task rule until the result comes
        self._held: dict[str, int] = {}
        self._finished: dict[int, None] = {}  # ids in a terminal state, oldest first

    async def ensure_indexes(self) -> None:
        """Nothing to create: the indexes are the dicts above."""

    def _index(self, doc: Doc) -> None:
        """Enter the stored ``doc`` in the index of its state."""
        state, agent, task_id = doc["state"], doc["agent"], doc["_id"]
        if state == QUEUED:
            bisect.insort(self._queued.setdefault(agent, []), _claim_key(doc))
        elif state == DISPATCHED:
            self._in_flight[agent] = task_id
        elif doc.get("held"):
            self._held[agent] = task_id
        elif state in TERMINAL_STATES:
            self._finished[task_id] = None

    def _unindex(self, doc: Doc) -> None:
        """Take the stored ``doc`` out of the index of its state."""
        state, agent, task_id = doc["state"], doc["agent"], doc["_id"]
        if state == QUEUED:
            queue = self._queued.get(agent, [])
            position = bisect.bisect_left(queue, _claim_key(doc))
            if position < len(queue) and queue[position][1] == task_id:
                del queue[position]
            if not queue:
                self._queued.pop(agent, None)
        elif state == DISPATCHED:
            if self._in_flight.get(agent) == task_id:
                del self._in_flight[agent]
        elif doc.get("held"):
            if self._held.get(agent) == task_id:
                del self._held[agent]
        else:
            self._finished.pop(task_id, None)

    def _set(self, doc: Doc, fields: Doc) -> Doc:
        """Apply ``fields`` to the stored ``doc``, keep the indexes, return a copy."""
        moves = (fields.get("state", doc["state"]) != doc["state"]
                 or ("held" in fields and fields["held"] != doc.get("held")))
        if moves:
            self._unindex(doc)
        doc.update(fields)
        for key in ("held", "partial"):
            if key in doc and doc[key] is None:
                del doc[key]  # ``None`` unsets these, as ``$unset`` does
        if moves:
            self._index(doc)
        return dict(doc)

    # --- writes ---

    async def insert(self, docs: list[Doc]) -> None:
        for doc in docs:
            if doc["_id"] in self._docs:
                raise DuplicateKeyError(f"E11000 duplicate key error: tasks _id {doc['_id']!r}")
        for doc in docs:
            stored = dict(doc)
            self._docs[stored["_id"]] = stored
            self._index(stored)

    async def claim_next_for(self, agent: str, fields: Doc) -> Doc | None:
        if agent in self._in_flight or agent in self._held:
            return None
        queue = self._queued.get(agent)
        released_by = fields.get("dispatched_at")
        if not queue or (released_by is not None and queue[0][0] > released_by):
            return None  # nothing queued, or the oldest (hence all) not released yet
        return self._set(self._docs[queue[0][1]], fields)

    async def put_back(self, task_id: int, dispatched_at: datetime.datetime) -> Doc | None:
        doc = self._docs.get(task_id)
        if doc is None or doc["state"] != DISPATCHED or doc.get("dispatched_at") != dispatched_at:
            return None
        return self._set(doc, {"state": QUEUED, "dispatched_at": None, "registration": None})

    async def put_back_claim(self, agent: str, dispatched_at: datetime.datetime) -> Doc | None:
        task_id = self._in_flight.get(agent)
        return None if task_id is None else await self.put_back(task_id, dispatched_at)

    async def complete(self, task_id: int, agent: str, fields: Doc) -> Doc | None:
        doc = self._docs.get(task_id)
        if doc is None or doc["agent"] != agent or doc["state"] not in ANSWERABLE:
            return None
        return self._set(doc, fields | {"partial": None})

    async def store_partial(self, task_id: int, agent: str, partial: Doc) -> None:
        doc = self._docs.get(task_id)
        if doc is not None and doc["agent"] == agent and doc["state"] == DISPATCHED:
            doc["partial"] = partial

    async def stop_dispatched(self, task_id: int, fields: Doc) -> Doc | None:
        doc = self._docs.get(task_id)
        if doc is None or doc["state"] != DISPATCHED:
            return None
        return self._set(doc, fields | {"held": True})

    async def answer_held(self, task_id: int, agent: str, fields: Doc) -> Doc | None:
        doc = self._docs.get(task_id)
        if doc is None or doc["agent"] != agent or not doc.get("held"):
            return None
        return self._set(doc, fields | {"held": None, "partial": None})

    async def release_held(self, agent: str) -> Doc | None:
        task_id = self._held.get(agent)
        if task_id is None:
            return None
        return self._set(self._docs[task_id], {"held": None})

    async def held_before(self, cutoff: datetime.datetime) -> list[Doc]:
        return [{key: self._docs[task_id][key] for key in BOUND_FIELDS if key in self._docs[task_id]}
                for task_id in self._held.values() if self._docs[task_id]["dispatched_at"] < cutoff]

    async def end_queued(self, task_id: int, fields: Doc) -> Doc | None:
        doc = self._docs.get(task_id)
        if doc is None or doc["state"] != QUEUED:
            return None
        return self._set(doc, fields)

    async def end_dispatched(self, task_id: int, dispatched_at: datetime.datetime, fields: Doc) -> Doc | None:
        doc = self._docs.get(task_id)
        if doc is None or doc["state"] != DISPATCHED or doc.get("dispatched_at") != dispatched_at:
            return None
        return self._set(doc, fields)

    async def end_in_flight(self, agent: str, fields: Doc) -> Doc | None:
        task_id = self._in_flight.get(agent)
        if task_id is None:
            return None
        return self._set(self._docs[task_id], fields)

    async def delete_unchanged(self, docs: list[Doc]) -> None:
        for doc in docs:
            stored = self._docs.get(doc["_id"])
            if stored is not None and stored["state"] == doc["state"]:
                self._unindex(stored)
                del self._docs[doc["_id"]]

    # --- reads ---

    async def get(self, task_id: int) -> Doc | None:
        doc = self._docs.get(task_id)
        return None if doc is None else dict(doc)

    async def newest(self, query: TaskQuery, limit: int) -> list[Doc]:
        return newest(self._docs.values(), query, limit)

    async def queued_ids(self, agent: str) -> list[int]:
        return [task_id for _key, task_id in self._queued.get(agent, ())]

    async def queued_before(self, cutoff: datetime.datetime) -> list[int]:
        return [doc["_id"] for doc in self._docs.values() if doc["state"] == QUEUED and doc["created_at"] < cutoff]

    async def dispatched_before(self, cutoff: datetime.datetime) -> list[Doc]:
        return [{key: self._docs[task_id][key] for key in BOUND_FIELDS if key in self._docs[task_id]}
                for task_id in self._in_flight.values() if self._docs[task_id]["dispatched_at"] < cutoff]

    async def finished_ids(self, limit: int) -> list[int]:
        ids: list[int] = []
        for task_id in self._finished:
            if len(ids) >= limit:
                break
            ids.append(task_id)
        return ids

    async def finished(self, ids: list[int]) -> list[Doc]:
        return [dict(self._docs[task_id]) for task_id in ids
                if task_id in self._docs and self._docs[task_id]["state"] in TERMINAL_STATES
                and not self._docs[task_id].get("held")]

    async def in_flight(self) -> list[Doc]:
        return [{"_id": task_id, "agent": agent, "dispatched_at": self._docs[task_id]["dispatched_at"]}
                for agent, task_id in self._in_flight.items()]

    async def agents_with_queued(self, limit: int, now: datetime.datetime | None = None) -> set[str]:
        agents: set[str] = set()
        read = 0
        for agent, queue in self._queued.items():
            if read >= limit:
                break
            if now is None or queue[0][0] <= now:
                agents.add(agent)
            read += len(queue)
        return agents

    async def count(self, state: str | None = None) -> int:
        if state is None:
            return len(self._docs)
        return sum(1 for doc in self._docs.values() if doc["state"] == state)

    async def unfinished_for(self, target: str) -> int:
        return sum(1 for doc in self._docs.values() if doc.get("target") == target and doc["state"] in UNFINISHED)

    async def oldest_unfinished_for(self, target: str) -> Doc | None:
        found = [doc for doc in self._docs.values() if doc.get("target") == target and doc["state"] in UNFINISHED]
        if not found:
            return None
        oldest = min(found, key=lambda doc: doc["created_at"])
        return {key: oldest[key] for key in ("_id", "created_at", "time_limit") if key in oldest}


# Either implementation, as the task service is handed one (``toolbox.server.variants``).
Tasks = TaskRepo | MemoryTasks
