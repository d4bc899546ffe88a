"""Tasks: ids, the queued → dispatched → done lifecycle, outcomes, time bounds and history.

Two collections keep the hot path small whatever the history size:

- ``tasks`` holds live tasks (queued, dispatched) and, briefly, finished ones;
  create, claim and complete are one write each, on its indexes.
- ``task_history`` holds finished tasks.  The sweeper moves them there in batches
  (an upsert then a conditional delete, so a move interrupted half-way is redone,
  never lost) and, when a history limit is set, prunes the oldest.

Ids come from an atomic counter, reserved ``id_block`` at a time per process.

An agent has at most one task dispatched at a time: the tasks repository's
``claim_next_for`` hands out nothing while it has one (``toolbox.store.repos.tasks`` says
how that holds on either database).  A task is bound to the *registration* it
was delivered to (the agent document's ``registration``): a result is taken only from
that registration, so an agent deleted and created again under the same name cannot
answer its predecessor's tasks.

Every finished task carries an ``outcome`` and a one-line ``summary``, written with
the state change itself: for a result, what ``toolbox.tools.outcomes`` reads from it
(``ok``, ``partial``, ``failed``, with ``parsed`` numbers); otherwise the terminal state
(``lost`` with a ``reason``: ``agent_offline``, ``agent_restarted`` (it registered
again: a new process, which knows nothing of the task), ``timeout``, ``agent_deleted``;
``delivery_timeout``; ``canceled``).  A dispatched task ends ``lost`` (reason
``timeout``) ``lost_after`` seconds after dispatch: its tool's time bound plus a
grace, or ``TOOLBOX_TASK_TIMEOUT`` for raw commands.  A task stores only the fields it
has (no ``False`` flags, no empty ``parsed``): every field costs on each read and write.
"""

import asyncio
import builtins
import datetime
import itertools
import logging
from collections.abc import Iterator

from toolbox import clock
from toolbox.core.events.bus import Hub
from toolbox.core.tasks import history as task_history
from toolbox.store.db import Doc
from toolbox.store.faults import outage_kind
from toolbox.store.repos.counters import CounterRepo
from toolbox.store.repos.task_history import History
from toolbox.store.repos.tasks import TaskQuery
from toolbox.store.repos.tasks_memory import Tasks
from toolbox.errors import Conflict, NotFound, ValidationError
from toolbox.task_states import (AGENT_DELETED, CANCELED, DELIVERY_TIMEOUT, DISPATCHED, DONE, LOST, LOST_SUMMARIES,
                                 QUEUED, TASK_STATES, TIMEOUT)
from toolbox.presenters import task_event, task_model
from toolbox.core.timings import TaskTimes
from toolbox.tools.outcomes import Reading, read_result

log = logging.getLogger("toolbox.tasks")


class TaskService:
    """Creates tasks, hands them to agents one at a time, stores results and ends stale ones."""

    def __init__(self, live: Tasks, history: History, counters: CounterRepo, events: Hub, times: TaskTimes, *,
                 id_block: int, history_limit: int = 0) -> None:
        self.live = live  # queued and dispatched tasks (and, until the next sweep, finished ones)
        self.history = history  # finished tasks
        self.counters = counters
        self.events = events
        self.times = times
        self.id_block = id_block  # task ids are taken from the counter this many at a time
        self.history_limit = history_limit  # finished tasks kept (0: all; ``toolbox.server.variants``)
        self._ids: Iterator[int] = iter(())
        self._id_lock = asyncio.Lock()
        # agent -> the task this process dispatched to it, as claimed: what complete()
        # needs to read the result (tool, target, command) without a read per task.
        # One entry per agent at most; a miss (the task ended elsewhere) reads the task.
        self._dispatched: dict[str, Doc] = {}
        # agent → dispatched_at of a claim whose answer the database never gave (claim())
        self._uncertain_claims: dict[str, datetime.datetime] = {}

    async def start(self) -> None:
        await self.live.ensure_indexes()
        await self.history.ensure_indexes()

    # --- ids ---

    async def next_id(self) -> int:
        """The next task id (>= 1), unique across every process on the database."""
        return (await self.next_ids(1))[0]

    async def next_ids(self, count: int) -> list[int]:
        """``count`` task ids, increasing, unique across every process on the database: what
        is left of this process's block, then one new block of at least ``count``, so that a
        job on 10,000 agents costs one counter write, not 500 (and one wait for the lock)."""
        async with self._id_lock:
            ids = list(itertools.islice(self._ids, count))
            missing = count - len(ids)
            if missing:
                block = max(self.id_block, missing)
                last = await self.counters.advance("task_id", block)
                fresh = iter(range(last - block + 1, last + 1))
                ids += itertools.islice(fresh, missing)
                self._ids = fresh
            return ids

    # --- lifecycle ---

    async def create(self, agents: list[str], command: str, time_limit: float | None = None,
                     delays: dict[str, float] | None = None, created_at: datetime.datetime | None = None,
                     **extra: object) -> list[Doc]:
        """Queue one task per agent name (already validated); return the documents.

        ``time_limit``: the seconds the command may run (a tool's bound); the task ends
        ``lost`` that long plus ``task_grace`` after dispatch.  Without it (raw commands)
        the limit is ``task_timeout`` and there is no grace.  ``delays``: seconds after
        which an agent's task is released (a spread round's): its ``created_at`` is then,
        and no fetch is handed it before (``claim_next_for``).
        """
        docs = await self.build(agents, command, time_limit, delays, created_at, **extra)
        await self.live.insert(docs)
        self.announce(docs)
        return docs

    async def build(self, agents: list[str], command: str, time_limit: float | None = None,
                    delays: dict[str, float] | None = None, created_at: datetime.datetime | None = None,
                    **extra: object) -> list[Doc]:
        """The task documents ``create`` stores (ids taken from the counter), not stored:
        a job stores them with itself (``toolbox.store.repos.job_writes``), then ``announce``.

        ``created_at``: the job's own, so a spread's offsets count from the job's creation
        and not from whenever the ids came back (a slow database made them late).
        """
        now = created_at if created_at is not None else clock.utcnow()
        if time_limit is None:
            time_limit = self.times.task_timeout
        docs: list[Doc] = []
        for agent, task_id in zip(agents, await self.next_ids(len(agents))):
            delay = (delays or {}).get(agent)
            doc: Doc = {"_id": task_id, "agent": agent, "command": command, "state": QUEUED,
                        "created_at": now + datetime.timedelta(seconds=delay) if delay else now,
                        "time_limit": time_limit}
            doc.update({key: value for key, value in extra.items() if value is not None})
            docs.append(doc)
        return docs

    def announce(self, docs: list[Doc]) -> None:
        """Publish ``task.queued`` for tasks just stored."""
        for doc in docs:
            self.events.publish("task.queued", task_model(doc))

    async def claim(self, agent: str, registration: str) -> Doc | None:
        """Dispatch the agent's oldest queued task to ``registration``, or None.

        None too while the agent has a task in flight (the repository keeps that rule).
        """
        uncertain = self._uncertain_claims.pop(agent, None)
        if uncertain is not None:  # a claim the database may have applied before it went away
            try:
                back = await self.live.put_back_claim(agent, uncertain)
            except Exception:
                self._uncertain_claims[agent] = uncertain  # still away: try at the next fetch
                raise
            if back is not None:
                log.info("task %s: its claim for %s went unanswered by the database; queued again",
                         back["_id"], agent)
                self.events.publish("task.queued", task_model(back))
        dispatched_at = clock.utcnow()
        fields = {"state": DISPATCHED, "dispatched_at": dispatched_at, "registration": registration}
        try:
            doc = await self.live.claim_next_for(agent, fields)
        except Exception as error:
            if outage_kind(error) is not None:  # applied or not, no one can tell: undone later
                self._uncertain_claims[agent] = dispatched_at
            raise
        if doc is not None:
            self._dispatched[agent] = doc
        return doc

    def _released(self, doc: Doc) -> None:
        """``doc`` (a task that was dispatched) no longer is: its agent may get the next
        (the event announcing how it ended wakes the agent's parked fetch)."""
        agent = doc["agent"]
        held = self._dispatched.get(agent)
        if held is not None and held["_id"] == doc["_id"]:
            del self._dispatched[agent]

    async def unclaim(self, doc: Doc) -> Doc | None:
        """Put back a claimed task whose response never reached its agent."""
        back = await self.live.put_back(doc["_id"], doc["dispatched_at"])
        if back is not None:
            log.info("task %s: response to %s not delivered; queued again", doc["_id"], doc["agent"])
            self._released(doc)
            self.events.publish("task.queued", task_model(back))
        return back

    def delivered(self, doc: Doc) -> None:
        """Announce that a claimed task's response was written to its agent."""
        self.events.publish("task.dispatched", task_model(doc))

    async def complete(self, agent: str, registration: str, task_id: int, result: str, exit_code: int | None = None,
                       duration_ms: int | None = None, truncated: bool = False, recovered: bool = False,
                       repaired: bool = False) -> str:
        """Store a result from ``registration`` of ``agent``: "stored" or "duplicate".

        Raises NotFound (not delivered to this registration) or Conflict (a different
        result is stored already).  A late result for a ``lost`` task is still stored.
        """
        task = self._dispatched.get(agent)
        if task is None or task["_id"] != task_id:
            task = await self.find(task_id)  # dispatched by another process, or lost meanwhile
        # Tasks dispatched before registrations existed carry none: any registration of
        # the name may answer those.
        bound_to = task.get("registration") if task is not None else None
        stopped = task is not None and task["state"] == CANCELED and task.get("dispatched_at") is not None
        if (task is None or task["agent"] != agent or bound_to not in (None, registration)
                or (task["state"] not in (DISPATCHED, LOST, DONE) and not stopped)):
            raise NotFound(f"task {task_id} was not delivered to agent {agent}")
        if task["state"] == DONE or (stopped and not task.get("held")):
            return self._repeated(task, result, exit_code)
        reading = read_result(task.get("tool") or task["command"], result, exit_code, task.get("target"))
        if stopped:
            return await self._late_result(task, result, exit_code, duration_ms, reading)
        fields = {"state": DONE, "finished_at": clock.utcnow(), "result": result,
                  "outcome": reading.outcome, "summary": reading.summary}
        # Only what is there: every stored field costs on every read and write of the task.
        for key, value in (("parsed", reading.parsed), ("result_truncated", truncated),
                           ("result_recovered", recovered), ("result_repaired", repaired)):
            if value:
                fields[key] = value
        if exit_code is not None:
            fields["exit_code"] = exit_code
        if duration_ms is not None:
            fields["duration_ms"] = duration_ms
        for repo in (self.live, self.history):  # a lost task may be in history already
            doc = await repo.complete(task_id, agent, fields)
            if doc is not None:
                if task["state"] == DISPATCHED:
                    self._released(doc)
                event = task_event(doc)
                if task["state"] == LOST or doc.get("reason") is not None:
                    event["late"] = True  # it ended (lost) before: this result comes after its end
                self.events.publish("task.done", event)
                return "stored"
        done = await self.find(task_id)  # the same result may have won a race
        if done is not None and done["state"] == DONE:
            return self._repeated(done, result, exit_code)
        raise NotFound(f"task {task_id} was not delivered to agent {agent}")

    async def _late_result(self, task: Doc, result: str, exit_code: int | None, duration_ms: int | None,
                           reading: Reading) -> str:
        """Store the result of a task stopped while it ran: it stays ``canceled`` (the result
        kept, what it says in the summary) and its agent may take the next task."""
        fields: Doc = {"result": result, "summary": f"stopped; {reading.summary}"}
        for key, value in (("parsed", reading.parsed), ("exit_code", exit_code), ("duration_ms", duration_ms)):
            if value is not None and value != {}:
                fields[key] = value
        doc = await self.live.answer_held(task["_id"], task["agent"], fields)
        if doc is None:
            done = await self.find(task["_id"])  # answered meanwhile (a repeated post)
            if done is not None and "result" in done:
                return self._repeated(done, result, exit_code)
            raise NotFound(f"task {task['_id']} was not delivered to agent {task['agent']}")
        self.events.publish("task.released", task_event(doc))
        return "stored"

    async def stop(self, task_id: int, summary: str = "stopped") -> Doc | None:
        """Cancel a task while its agent runs it; None when it is not dispatched (any more).

        The task ends ``canceled`` at once and is ``held``: in flight for the one-task rule
        until its agent's result comes (stored, ``_late_result``) or the agent is gone.
        ``task.canceled`` carries ``stopping``: the dispatcher tells a ``toolbox-agent``
        to kill the command (the field agent cannot be told; its command runs on)."""
        doc = await self.live.stop_dispatched(task_id, {"state": CANCELED, "finished_at": clock.utcnow(),
                                                        "outcome": CANCELED, "summary": summary})
        if doc is None:
            return None
        self._released(doc)
        self.events.publish("task.canceled", task_model(doc) | {"stopping": True})
        return doc

    async def release_held(self, agent: str) -> Doc | None:
        """The agent's stopped task will get no result (its process is gone): let it take
        the next task."""
        doc = await self.live.release_held(agent)
        if doc is not None:
            self.events.publish("task.released", task_event(doc))
        return doc

    async def store_partial(self, task_id: int, agent: str, partial: Doc) -> None:
        """Keep ``partial`` (the output so far) on the agent's dispatched task."""
        await self.live.store_partial(task_id, agent, partial)

    async def in_flight_for(self, agent: str, task_id: int) -> Doc | None:
        """The task ``task_id`` as this process last saw it dispatched to ``agent``, else read."""
        held = self._dispatched.get(agent)
        if held is not None and held["_id"] == task_id:
            return held
        return await self.find(task_id)

    @staticmethod
    def _repeated(doc: Doc, result: str, exit_code: int | None) -> str:
        if doc.get("result") == result and doc.get("exit_code") == exit_code:
            return "duplicate"
        raise Conflict(f"task {doc['_id']} already has a different result")

    async def cancel(self, task_id: int, summary: str = "canceled", running: bool = False) -> Doc:
        """Cancel a queued task; with ``running``, stop a dispatched one too (``stop``)."""
        doc = await self.live.end_queued(task_id, {"state": CANCELED, "finished_at": clock.utcnow(),
                                                   "outcome": CANCELED, "summary": summary})
        if doc is not None:
            self.events.publish("task.canceled", task_model(doc))
            return doc
        if running:
            doc = await self.stop(task_id, "stopped while running" if summary == "canceled" else summary)
            if doc is not None:
                return doc
        doc = await self.find(task_id)
        if doc is None:
            raise NotFound(f"task not found: {task_id}")
        raise Conflict(f"task {task_id} is {doc['state']}: only queued or running tasks can be canceled")

    async def end_agent(self, agent: str) -> tuple[list[Doc], Doc | None]:
        """The agent was deleted: cancel its queued tasks, end its dispatched one ``lost``."""
        canceled: list[Doc] = []
        for task_id in await self.live.queued_ids(agent):
            try:
                canceled.append(await self.cancel(task_id))
            except (NotFound, Conflict):
                pass  # dispatched or canceled meanwhile
        lost = await self.end_in_flight(agent, AGENT_DELETED)
        return canceled, lost

    async def end_in_flight(self, agent: str, reason: str) -> Doc | None:
        """End the agent's dispatched task ``lost`` with ``reason``; the document, or None."""
        doc = await self.live.end_in_flight(agent, self._lost_fields(reason))
        if doc is not None:
            self._ended(doc)
        await self.release_held(agent)  # a stopped task's result will not come either
        return doc

    def lost_after(self, doc: Doc) -> float:
        """Seconds after dispatch that ``doc`` ends ``lost``: a tool task's bound plus the
        grace; a raw command's limit (``TOOLBOX_TASK_TIMEOUT`` when it was queued)."""
        limit = doc.get("time_limit") or self.times.task_timeout
        return limit + self.times.task_grace if doc.get("tool") else limit

    def _lost_fields(self, reason: str, now: datetime.datetime | None = None, lost_after: float | None = None) -> Doc:
        if reason == TIMEOUT:
            summary = f"no result within {lost_after:g} s"
        else:
            summary = LOST_SUMMARIES.get(reason, reason)
        return {"state": LOST, "finished_at": now or clock.utcnow(), "reason": reason,
                "outcome": LOST, "summary": summary}

    def _ended(self, doc: Doc) -> None:
        """Announce a task that ended without a result (and free its agent if it was dispatched)."""
        if doc["state"] == LOST:
            self._released(doc)
        self.events.publish(f"task.{doc['state']}", task_model(doc))

    # --- reading ---

    async def find(self, task_id: int) -> Doc | None:
        """A task by id, live or finished, or None."""
        doc = await self.live.get(task_id)
        if doc is None:
            doc = await self.history.get(task_id)
        return doc

    async def list(self, agent: str | None = None, state: str | None = None, limit: int = 50, before: int | None = None,
                   job_id: int | None = None, part: bool = False) -> list[Doc]:
        """Newest first, at most ``limit``, with ids below ``before``; ``part``: agent names
        containing ``agent``."""
        if state is not None and state not in TASK_STATES:
            raise ValidationError(f"state: must be one of {', '.join(TASK_STATES)}")
        query = TaskQuery(agent=agent, part=part, state=state, job_id=job_id, before=before)
        docs: dict[int, Doc] = {}
        for repo in (self.live, self.history):
            for doc in await repo.newest(query, limit):
                docs.setdefault(doc["_id"], doc)  # live wins over a stale history copy
        return sorted(docs.values(), key=lambda doc: doc["_id"], reverse=True)[:limit]

    # --- sweeping ---

    async def expire(self, now: datetime.datetime | None = None) -> builtins.list[Doc]:
        """End tasks that waited too long: queued → delivery_timeout, dispatched → lost."""
        now = now or clock.utcnow()
        ended: builtins.list[Doc] = []
        cutoff = now - datetime.timedelta(seconds=self.times.delivery_timeout)
        summary = f"not fetched by its agent within {self.times.delivery_timeout:g} s"
        for task_id in await self.live.queued_before(cutoff):
            doc = await self.live.end_queued(task_id, {"state": DELIVERY_TIMEOUT, "finished_at": now,
                                                       "outcome": DELIVERY_TIMEOUT, "summary": summary})
            if doc is not None:
                ended.append(doc)
                self._ended(doc)
        # Each dispatched task has its own bound; none is shorter than the grace (tool
        # tasks) or the task timeout (raw ones), so older ones are all that need a look.
        soonest = min(self.times.task_grace, self.times.task_timeout)
        cutoff = now - datetime.timedelta(seconds=soonest)
        for stale in await self.live.dispatched_before(cutoff):
            lost_after = self.lost_after(stale)
            if clock.aware(stale["dispatched_at"]) + datetime.timedelta(seconds=lost_after) > now:
                continue
            doc = await self.live.end_dispatched(stale["_id"], stale["dispatched_at"],
                                                 self._lost_fields(TIMEOUT, now, lost_after))
            if doc is not None:
                ended.append(doc)
                self._ended(doc)
        for held in await self.live.held_before(cutoff):  # stopped, and no result within its bound
            if clock.aware(held["dispatched_at"]) + datetime.timedelta(seconds=self.lost_after(held)) <= now:
                await self.release_held(held["agent"])
        return ended

    async def archive(self) -> int:
        """Move finished tasks to history, then prune it (``toolbox.core.tasks.history``);
        return how many moved."""
        moved = await task_history.move_finished(self.live, self.history)
        if moved:
            await self.prune()
        return moved

    async def prune(self) -> int:
        """Keep about ``history_limit`` finished tasks (0 = keep all): at most a tenth more."""
        return await self.history.prune(self.history_limit)

    async def dispatched_agents(self) -> builtins.list[tuple[str, datetime.datetime]]:
        """(agent, dispatched_at) of every task in flight (read once, at start-up)."""
        return [(doc["agent"], clock.aware(doc["dispatched_at"])) for doc in await self.live.in_flight()]

    async def count_live(self, state: str | None = None) -> int:
        """How many tasks are in ``tasks`` (in ``state``, when given): live ones, and finished
        ones the sweeper has not moved yet."""
        return await self.live.count(state)

    async def queued_agents(self, limit: int = 10000) -> set[str]:
        """Names of agents that have queued tasks released by now (for waking fetches parked elsewhere)."""
        return await self.live.agents_with_queued(limit, clock.utcnow())

