"""Rounds: each due round of a schedule fired once, as an ordinary job, across every process.

``RoundScheduler.tick`` reads the due schedules and claims each round atomically (``ScheduleRepo.claim_due``: ``next_run``
moves on only if it still holds the value read), so with several processes on one
MongoDB exactly one fires it.  The claim is kept as the schedule's ``pending`` round
until the round is recorded; a process that dies in between leaves a claim older than
``LEASE``, which another process takes over (``claim_stale``) and finishes: it fires the
round unless a job of that round already exists (the dead process got that far), so the
round is neither lost nor doubled.

A round: the agents are chosen now (tags resolved at each round, so an agent given the
tag joins the next one); an agent whose task of the schedule's previous round is still
queued or in flight is skipped and counted as busy (with a spread, only once that task
was released half an interval ago: an agent released late in the spread gets its next
task queued behind it, as the one-in-flight rule keeps them apart); the rest run one job through
``JobService.create`` (marked with ``schedule_id`` and ``round_at``, each agent's task
released after its ``task_delay``), under the same rate and target limits as any job.  A round they refuse, or one with no agent to run on, is
skipped and recorded with the reason; never half-run.  Rounds missed while no server ran
are not replayed: the latest slot runs at once and the gap is recorded (``missed``).
Each round is logged (``RoundRepo``) and announced as ``schedule.round``, with how late
it fired (``late_ms``: from its due time to this process's creating its job).

``run_forever`` ticks when the earliest schedule is due, when a schedule of this process
is made or re-timed (``wake``), and at least every ``TOOLBOX_SWEEP_INTERVAL`` (one made or
changed by another process, a clock moved by a test), so a round fires within milliseconds of its due time, not up to a sweep later.
"""

import asyncio

import datetime
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from toolbox.core.jobs.selection import MAX_AGENTS, agent_selection, job_request, select_agents
from toolbox.clock import aware, utcnow
from toolbox.errors import ToolboxError
from toolbox.people.principals import Principal
from toolbox.store.db import Doc
from toolbox.store.faults import log_failure
from toolbox.task_states import TERMINAL_STATES
from toolbox.watch.models import round_model
from toolbox.watch.timing import next_after, round_slot, task_delays

if TYPE_CHECKING:
    from toolbox.core.dispatch.agents import AgentRegistry
    from toolbox.core.events.bus import Hub
    from toolbox.core.jobs.service import JobService
    from toolbox.core.tasks.service import TaskService
    from toolbox.store.repos.schedules import RoundRepo, ScheduleRepo

log = logging.getLogger("toolbox.rounds")

LEASE = datetime.timedelta(seconds=60)  # a claim older than this belongs to a dead process
BATCH = 100  # due schedules read per tick
FIRED, SKIPPED = "fired", "skipped"


class RoundScheduler:
    """Fires the due rounds of every schedule (``tick``), each exactly once."""

    def __init__(self, schedules: "ScheduleRepo", round_log: "RoundRepo", jobs: "JobService",
                 tasks: "TaskService", agents: "AgentRegistry", events: "Hub",
                 now: Callable[[], datetime.datetime], instance: str) -> None:
        self.schedules = schedules
        self.round_log = round_log
        self.jobs = jobs
        self.tasks = tasks
        self.agents = agents
        self.events = events
        self.now = now
        self.instance = instance  # written in claims, for the record
        self._woken = asyncio.Event()

    def wake(self) -> None:
        """A schedule's next run changed: look again now (``run_forever``)."""
        self._woken.set()

    async def run_forever(self, most: float) -> None:
        """Tick at each due time (waiting ``most`` seconds at most) until cancelled."""
        while True:
            try:
                await self.tick()
                due = await self.schedules.next_due()
                wait = most if due is None else (due - self.now()).total_seconds()
            except asyncio.CancelledError:
                raise
            except Exception:  # the store may be away for a moment (logged once per outage); try again
                log_failure(log, "firing rounds failed; retrying in %.1fs", most)
                wait = most
            try:
                await asyncio.wait_for(self._woken.wait(), min(max(wait, 0.001), most))
            except asyncio.TimeoutError:
                pass
            self._woken.clear()

    async def tick(self) -> int:
        """Fire every round due now (and finish those a dead process claimed); how many ran."""
        now = self.now()
        ran = 0
        for doc in await self.schedules.stale_claims(now - LEASE):
            taken = await self.schedules.claim_stale(doc["_id"], doc["pending"]["claimed_at"], now, self.instance)
            if taken is not None:
                await self._run(taken, taken["pending"], now, recovered=True)
                ran += 1
        for doc in await self.schedules.due(now, BATCH):
            slot, missed = round_slot(doc, doc["next_run"], now)
            pending = {"at": slot, "claimed_at": now, "by": self.instance, "missed": missed}
            claimed = await self.schedules.claim_due(doc["_id"], doc["next_run"], next_after(doc, slot), pending)
            if claimed is None:
                continue  # another process took this round
            await self._run(claimed, pending, now)
            ran += 1
        return ran

    async def _run(self, doc: Doc, pending: Doc, now: datetime.datetime, recovered: bool = False) -> None:
        slot, now = pending["at"], self.now()  # now: when this round fires (after those before it)
        entry: Doc = {"schedule_id": doc["_id"], "at": slot, "fired_at": now, "state": SKIPPED, "job_id": None,
                      "reason": None, "agents": 0, "busy": [], "missed": pending.get("missed", 0),
                      "late_ms": int((now - slot).total_seconds() * 1000)}
        try:
            done = await self._fired_already(doc, slot) if recovered else None
            if done is not None:
                entry.update(state=FIRED, job_id=done["_id"], agents=len(done.get("agents", [])))
            else:
                await self._fire(doc, slot, entry)
        except ToolboxError as error:  # no agent to run on, a rate or target limit, a policy
            entry["reason"] = error.message
        counts = {entry["state"]: 1, "missed": entry["missed"], "busy": len(entry["busy"])}
        await self.round_log.add(entry)
        await self.schedules.finish_round(doc["_id"], slot, entry, counts)
        self.events.publish("schedule.round", dict(round_model(entry) or {}, name=doc.get("name")))
        if entry["missed"]:
            log.info("schedule %s: %d rounds missed before %s", doc["_id"], entry["missed"], slot)

    async def _fired_already(self, doc: Doc, slot: datetime.datetime) -> Doc | None:
        """The job of this round, if the process that claimed it created one before it died."""
        for job in await self.jobs.list(schedule=doc["_id"], limit=5):
            if job.get("round_at") == slot:
                return job
        return None

    async def _busy(self, doc: Doc) -> set[str]:
        """Agents whose task of the schedule's previous round has not finished (and, with a
        spread, was released at least half an interval ago)."""
        last = doc.get("last_round") or {}
        if not last.get("job_id"):
            return set()
        tasks = await self.tasks.list(job_id=last["job_id"], limit=MAX_AGENTS)
        released_by = utcnow() - datetime.timedelta(seconds=doc["interval"] / 2)
        return {task["agent"] for task in tasks if task["state"] not in TERMINAL_STATES
                and (not doc.get("spread") or aware(task["created_at"]) <= released_by)}

    async def _fire(self, doc: Doc, slot: datetime.datetime, entry: Doc) -> None:
        chosen = await select_agents(self.agents, agent_selection(
            agents=doc.get("agents"), tags=doc.get("tags"), all_agents=doc.get("all") or None,
            tags_match=doc.get("tags_match") if doc.get("tags") else None))
        busy = await self._busy(doc)
        names = [agent["_id"] for agent in chosen if agent["_id"] not in busy]
        entry["busy"] = sorted(busy & {agent["_id"] for agent in chosen})
        if not names:
            entry["reason"] = "every agent is still busy with the previous round"
            return
        principal = Principal(doc.get("owner") or "schedule", "operator", user_id=doc.get("owner_id"))
        job, _tasks = await self.jobs.create(principal, job_request(doc["tool"], doc["params"], agents=names),
                                             marks={"schedule_id": doc["_id"], "round_at": slot},
                                             delays=task_delays(doc, names))
        entry.update(state=FIRED, job_id=job["_id"], agents=len(job["agents"]))
