"""Jobs: one diagnostic tool run on many agents at once, counted as its tasks move.

``JobService.create`` takes a checked ``JobRequest`` (``toolbox.core.jobs.selection.job_request``:
the tool request, validated once by ``toolbox.tools.catalogue.tool_request``, and the agents),
selects agents and applies the private-target policy (``toolbox.core.jobs.selection``), then
the rate limits, then queues one task per agent with the command built for that agent's
platform.  Job documents live in ``jobs``; their public JSON is ``toolbox.presenters.job_model``.

While a job is live its task states are kept in memory, updated from the task events
(``task.*`` carrying a ``job_id``); counts are derived from them and written to the job
document when the job changes state and on each finished task (one small update by id).
A job ends when every task is finished or its deadline passes: unfinished tasks then
count as timed out and still-queued ones are canceled.  ``canceled`` jobs cancel their
queued tasks at once and end the same way.  Counts of an ended job no longer change.
A job is stored whole with its tasks or not at all (``toolbox.store.repos.job_writes``: one
transaction on a shared MongoDB); its ``task.queued`` and ``job.created`` are published
after that, so nothing announced can be missing.  A job's tally starts from the tasks it
stored (``tasks.build``); task events then move it.
``job.progress`` is announced at most once per ``TOOLBOX_PROGRESS_INTERVAL`` per job (the
changes in between merged); the job document is always current.
Job events (``job.created``, ``job.progress``, ``job.done``) published while a task event
is being handed out follow it (``toolbox.core.events.hub.HubListeners.in_order``).
"""

import asyncio
import datetime
import logging
from typing import TYPE_CHECKING, Any

from toolbox import clock
from toolbox.store.db import Doc, DuplicateKeyError, PyMongoError
from toolbox.store.faults import log_failure, outage_kind
from toolbox.store.repos.counters import CounterRepo
from toolbox.store.repos.idempotency import KEPT_SECONDS
from toolbox.store.repos.job_writes import JobWrites
from toolbox.store.repos.jobs import JobQuery, Jobs
from toolbox.errors import Conflict, NotFound, ValidationError
from toolbox.task_states import CANCELED, DISPATCHED, DONE, QUEUED, TERMINAL_STATES
from toolbox.core.jobs.counts import LiveJob, job_outcome, job_summary
from toolbox.tools.outcomes import FAILED, OK, PARTIAL
from toolbox.core.jobs.selection import (MAX_AGENTS, JobRequest, check_private_targets, command_key, plan_runs,
                                        select_agents)
from toolbox.presenters import job_model
from toolbox.core.timings import JobRules

if TYPE_CHECKING:
    from toolbox.core.dispatch.agents import AgentRegistry
    from toolbox.core.events.bus import Hub
    from toolbox.core.events.hub import Event
    from toolbox.core.tasks.service import TaskService
    from toolbox.people.principals import Principal
    from toolbox.core.jobs.owners import Owners
    from toolbox.core.limits.shared import JobWindow, Targets
    from toolbox.tools.targets import Resolver

log = logging.getLogger("toolbox.jobs")
# ``_made_before``'s answer for a key whose job is older than a key is kept
REUSED: tuple[Doc, list[Doc]] = ({}, [])

RUNNING = "running"
JOB_STATES = (RUNNING, DONE, CANCELED)
JOB_OUTCOMES = (OK, PARTIAL, FAILED)  # job_outcome's answers once a job ended


class JobService:
    """Creates, counts, ends, cancels and lists jobs; enforces the job rate limits."""

    def __init__(self, repo: Jobs, writes: JobWrites, counters: CounterRepo, events: "Hub", agents: "AgentRegistry",
                 tasks: "TaskService", rules: JobRules,
                 per_user: "JobWindow", targets: "Targets", owners: "Owners",
                 resolver: "Resolver | None" = None) -> None:
        self.repo = repo
        self.writes = writes  # a new job with its tasks, all or nothing (``toolbox.server.variants``)
        self.counters = counters
        self.events = events
        self.agents = agents
        self.tasks = tasks
        self.rules = rules
        self.resolver = resolver  # for the private-target check; None = getaddrinfo
        self.per_user = per_user  # jobs per user per minute (``toolbox.server.variants``)
        self.targets = targets  # unfinished tasks per target
        self.owners = owners  # which process counts which job
        self.counting: dict[int, LiveJob] = {}  # job id -> LiveJob (running, or ended but not yet saved)
        self._uncertain: set[int] = set()  # jobs whose creation failed with the database: stored or not?

    async def start(self) -> None:
        """Create indexes, pick up unfinished tasks and live jobs, follow task events."""
        await self.repo.ensure_indexes()
        await self.targets.start(self.tasks, self._time_left)
        await self.owners.heartbeat()
        self.events.subscribe(self.on_event)
        for doc in await self.owners.orphans(self.repo):
            await self._adopt(doc)

    async def _adopt(self, doc: Doc) -> None:
        """Count ``doc`` here from now on (at start-up, or its owner process is gone)."""
        doc = await self.owners.adopt(self.repo, doc)  # type: ignore[assignment]  # None: adopted elsewhere
        if doc is None or doc["_id"] in self.counting:
            return
        job = LiveJob(doc, stored=await self.tasks.list(job_id=doc["_id"], limit=MAX_AGENTS))
        self.counting[job.job_id] = job
        if job.finished():
            self._end(job)

    async def stop(self) -> None:
        """Stop following events and finish pending writes."""
        self.events.unsubscribe(self.on_event)
        for job in self.counting.values():
            if job.announcement is not None:
                job.announcement.cancel()
                job.announcement = None
        savers = [job.saver for job in self.counting.values() if job.saver and not job.saver.done()]
        if savers:
            await asyncio.gather(*savers, return_exceptions=True)
        try:
            await self.owners.leave()
        except PyMongoError:
            log.warning("could not hand the jobs over; another process takes them after its stale time")

    # --- creating ---

    async def next_id(self) -> int:
        return await self.counters.advance("job_id")

    async def create(self, principal: "Principal", job: JobRequest, marks: Doc | None = None,
                     delays: dict[str, float] | None = None,
                     creation_key: str | None = None) -> tuple[Doc, list[Doc]]:
        """Queue the job's tasks; return (job document, task documents).  ``marks``: fields
        stored with the job (a schedule's round: ``schedule_id``, ``round_at``); ``delays``:
        seconds after which an agent's task is released (a spread round's), which the
        job's deadline allows for.  ``creation_key`` (an Idempotency-Key's,
        ``toolbox.core.idempotency``): stored with the job, unique; when a job with it is
        stored already (an earlier try answered 503 whose commit did apply), that job and
        its tasks are returned and nothing new is made."""
        request = job.tool
        chosen = await select_agents(self.agents, job.agents)
        runnable, skipped, commands = plan_runs(request, chosen)
        if self.rules.deny_private_targets:
            await check_private_targets(request.hosts, self.resolver)
        params, target = request.params, request.target
        user = principal.user_id or principal.name
        hit = await self.per_user.acquire(user, "jobs")
        try:
            await self.targets.acquire(target, len(runnable))
        except BaseException:
            await self.per_user.release(user, hit)  # refused for its target: not a job started
            raise
        try:
            marks = dict(marks or {}, **({"creation_key": creation_key} if creation_key else {}))
            created = await self._create(principal, request.tool, params, target, runnable, skipped, commands,
                                         marks, delays or {})
        finally:
            self.targets.release(target, len(runnable))
        # The fetches these tasks woke take them now, before the caller goes on to what the
        # agents do not wait for (its audit entry and its answer, which lists every task):
        # on the embedded database nothing above gave them a turn (docs/benchmarks.md, issue 24).
        await asyncio.sleep(0)
        return created

    async def _create(self, principal: "Principal", tool: str, params: dict[str, Any], target: str, runnable: list[Doc],
                      skipped: list[dict[str, str]], commands: dict[str, tuple[str, int]],
                      marks: Doc, delays: dict[str, float]) -> tuple[Doc, list[Doc]]:
        now = clock.utcnow()
        # Never end a job before its tasks' own bounds: a delivered task still reports.
        longest = max(limit for _command, limit in commands.values()) + self.rules.times.task_grace
        deadline = max(self.rules.job_deadline, longest + 2 * self.rules.sweep_interval) + max(delays.values(),
                                                                                                default=0)
        doc: Doc = {"_id": await self.next_id(), "tool": tool, "params": params, "target": target,
               "created_by": principal.name, "created_by_id": principal.user_id, "created_at": now,
               "deadline": now + datetime.timedelta(seconds=deadline),
               "finished_at": None, "state": RUNNING, "agents": [d["_id"] for d in runnable],
               "offline_agents": [d["_id"] for d in runnable if not self.agents.is_online(d)],
               "skipped": skipped, "counts": {"requested": len(runnable)}, "owner": self.owners.instance,
               "schedule_id": None, **marks}
        job = LiveJob(doc)
        task_docs: list[Doc] = []
        for key, (command, limit) in commands.items():
            names = [d["_id"] for d in runnable if command_key(d) == key]
            task_docs += await self.tasks.build(names, command, time_limit=limit, delays=delays, created_at=now,
                                                job_id=job.job_id, tool=tool, target=target, created_by=principal.name)
        job.queued(task_docs)
        doc["counts"] = job.counts()
        doc["summary"] = job_summary(doc["counts"], False)
        # All or nothing (toolbox.store.repos.job_writes); an error leaves no job and no event.
        try:
            await self.writes.store(doc, task_docs)
        except DuplicateKeyError:
            made = await self._made_before(doc.get("creation_key"))
            if made is None:
                raise
            if made is not REUSED:
                return made
            await self.writes.store(doc, task_docs)  # the key's old job let go of it
        except Exception as error:
            if outage_kind(error) is not None:  # a commit's answer lost: stored or not, read at the next sweep
                self._uncertain.add(job.job_id)
            raise
        self.counting[job.job_id] = job  # from here on, its tasks' events count
        self.tasks.announce(task_docs)  # only now: what they announce is stored
        self.events.publish("job.created", job_model(doc))
        self._save(job)
        if job.finished():
            self._end(job)
        return doc, task_docs

    async def _made_before(self, creation_key: str | None) -> tuple[Doc, list[Doc]] | None:
        """The job a retried creation made already (its answer lost: a 503), with its tasks;
        ``REUSED`` when that job is older than a key is kept (``KEPT_SECONDS``): the key
        was sent again for a new creation, and the old job gives it up."""
        doc = await self.repo.by_creation_key(creation_key) if creation_key else None
        if doc is None:
            return None
        if clock.aware(doc["created_at"]) < clock.utcnow() - datetime.timedelta(seconds=KEPT_SECONDS):
            await self.repo.forget_creation_key(doc["_id"])
            return REUSED
        log.info("job %s: made already under this Idempotency-Key; answered again", doc["_id"])
        if doc["_id"] in self._uncertain:  # ours: count and announce it now, not at the next sweep
            await self._settle(doc["_id"])
        return doc, await self.tasks.list(job_id=doc["_id"], limit=MAX_AGENTS)

    # --- following tasks ---

    def _budget(self, state: str) -> float:
        """Seconds within which a task now in ``state`` surely ends (timeouts plus a sweep)."""
        seconds = self.rules.times.task_timeout + self.rules.sweep_interval
        return seconds + (self.rules.times.delivery_timeout if state == QUEUED else 0)

    def _time_left(self, task: Doc) -> float:
        """Like ``_budget``, for a stored task: less the time it has already waited."""
        stamp = task.get("dispatched_at") if task["state"] == DISPATCHED else None
        stamp = stamp or task["created_at"]
        waited = (clock.utcnow() - clock.aware(stamp)).total_seconds()
        return self._budget(task["state"]) - waited

    def on_event(self, event: "Event") -> None:
        """Count a task event of a job (an EventHub listener: synchronous, never raises)."""
        if (not event["type"].startswith("task.") or event["type"] == "task.output"
                or event["data"].get("job_id") is None):
            return
        try:
            self._follow(event["data"])
        except Exception:
            log.exception("job counting failed for %s", event["type"])

    def _follow(self, task: dict[str, Any]) -> None:
        task_id, state, job = task["task_id"], task["state"], self.counting.get(task["job_id"])
        if state in TERMINAL_STATES:
            self.targets.finish(task_id)
        else:
            target = self.targets.target_of(task_id)
            if target is None and state == QUEUED and job is not None:
                target = job.doc["target"]
            if target is not None:
                self.targets.track(task_id, target, self._budget(state))
        if job is None or job.ended:
            return
        if state == QUEUED:
            # A task enters its job's tally when its job stores it (``_create``), or
            # from the database (``_adopt``); queued again after an undelivered dispatch,
            # it still counts as dispatched (``LiveJob.advance``).
            return
        if not job.advance(task_id, state, task.get("outcome"), task.get("reason")) or not job.known():
            return
        if job.finished():
            self._end(job)
            return
        self._progress(job)
        if state in TERMINAL_STATES:
            self._save(job)

    def _end(self, job: LiveJob) -> None:
        """Stop counting: unfinished tasks count as timed out; announce (at once) and save."""
        job.ended = True
        if job.doc["state"] == RUNNING:
            job.doc["state"] = DONE
        job.doc["finished_at"] = clock.utcnow()
        self._recount(job)
        self._announce(job)
        self.events.publish("job.done", job_model(job.doc))
        self._save(job)

    def _progress(self, job: LiveJob) -> None:
        """Recount the job into its document, and announce it (``job.progress``) at most once
        per ``progress_interval``: a change within the interval is announced at its end, with
        the counts of that moment (the changes in between merged into one event).

        A job on 10,000 agents changes 20,000 times; one event per change was 20,000
        messages to every console and, on a shared database, 20,000 inserts into the event
        bus (docs/benchmarks.md).  The document (what the API reads and saves) is always
        current; the first change is announced at once, the end too (``_end``)."""
        self._recount(job)
        if job.announcement is not None:
            return  # already due: it will carry this change too
        loop = asyncio.get_running_loop()
        wait = job.announced_at + self.rules.progress_interval - loop.time()
        if wait <= 0:
            self._announce(job)
        else:
            job.announcement = loop.call_later(wait, self._announce_due, job)

    @staticmethod
    def _recount(job: LiveJob) -> None:
        doc = job.doc
        doc["counts"] = job.counts()
        doc["summary"] = job_summary(doc["counts"], job.ended)
        doc["outcome"] = job_outcome(doc["counts"], job.ended)

    def _announce_due(self, job: LiveJob) -> None:
        job.announcement = None
        if not job.ended:  # else ``_end`` announced it already
            self._announce(job)

    def _announce(self, job: LiveJob) -> None:
        if job.announcement is not None:
            job.announcement.cancel()
            job.announcement = None
        job.announced_at = asyncio.get_running_loop().time()
        doc = job.doc
        self.events.publish("job.progress", {key: doc[key] for key in ("counts", "state", "summary", "outcome")}
                            | {"job_id": job.job_id})

    def _save(self, job: LiveJob) -> None:
        job.dirty = True
        if job.saver is None or job.saver.done():
            job.saver = asyncio.ensure_future(self._saver(job))

    async def _saver(self, job: LiveJob) -> None:
        """Write the job's state and counts, one write at a time, until nothing is pending."""
        while job.dirty:
            job.dirty = False
            fields = {key: job.doc.get(key) for key in ("state", "counts", "finished_at", "summary", "outcome")}
            try:
                await self.repo.save(job.job_id, fields)
            except PyMongoError:
                log_failure(log, "saving job %s failed; retrying at the next sweep", job.job_id)
                job.dirty = True
                return
        if job.ended and self.counting.get(job.job_id) is job:
            del self.counting[job.job_id]

    async def sweep(self, now: datetime.datetime | None = None) -> None:
        """End jobs past their deadline (canceling their queued tasks); retry failed saves."""
        now = now or clock.utcnow()
        await self.owners.heartbeat()
        if self.owners.due(now):
            for doc in await self.owners.orphans(self.repo):
                await self._adopt(doc)
        for job_id in sorted(self._uncertain):
            await self._settle(job_id)
        for job in list(self.counting.values()):
            if not job.ended and job.known() and now >= clock.aware(job.doc["deadline"]):
                await self._cancel_queued(job, "not fetched before the job's deadline")
                if not job.ended:  # the cancels may have finished it already
                    self._end(job)
            elif job.dirty and (job.saver is None or job.saver.done()):
                self._save(job)

    async def _settle(self, job_id: int) -> None:
        """A job whose creation was answered 503 (its commit's answer lost) but that the
        database stored all the same (whole: ``job_writes``) is counted from now on, as an
        adopted one is, and announced; not stored: forgotten."""
        doc = await self.repo.get(job_id)  # the database still away: raises, tried at the next sweep
        self._uncertain.discard(job_id)
        if doc is None or job_id in self.counting:
            return
        log.warning("job %s: its creation was refused (the database did not answer), but it was stored; "
                    "counting it", job_id)
        job = LiveJob(doc, stored=await self.tasks.list(job_id=job_id, limit=MAX_AGENTS))
        self.counting[job_id] = job
        self.events.publish("job.created", job_model(job.doc))
        if job.finished():
            self._end(job)

    async def _cancel_queued(self, job: LiveJob, summary: str = "canceled with its job",
                             running: bool = False) -> list[int]:
        """Cancel the job's queued tasks; with ``running``, stop its dispatched ones too."""
        canceled: list[int] = []
        for task_id, state in list(job.states.items()):
            if state == QUEUED or (running and state == DISPATCHED):
                try:
                    summary_of = summary if state == QUEUED else "stopped with its job"
                    canceled.append((await self.tasks.cancel(task_id, summary_of, running=running))["_id"])
                except (NotFound, Conflict):
                    pass  # dispatched or ended meanwhile
        return canceled

    # --- reading and canceling ---

    async def cancel(self, job_id: int) -> tuple[Doc, list[int]]:
        """Cancel a running job: its queued tasks, and its delivered ones are stopped
        (``TaskService.stop``); return (job document, canceled task ids)."""
        job = self.counting.get(job_id)
        if job is None or job.ended or job.doc["state"] != RUNNING:
            doc = await self.find(job_id)
            if doc is None:
                raise NotFound(f"job not found: {job_id}")
            raise Conflict(f"job {job_id} is {doc['state']}: only running jobs can be canceled")
        job.doc["state"] = CANCELED
        canceled = await self._cancel_queued(job, running=True)
        if not job.ended:
            if job.finished():
                self._end(job)
            else:
                self._progress(job)
                self._save(job)
        return job.doc, canceled

    async def find(self, job_id: int) -> Doc | None:
        """A job document (the live copy while it is counted), or None."""
        job = self.counting.get(job_id)
        if job is not None:
            return job.doc
        return await self.repo.get(job_id)

    async def get(self, job_id: int) -> tuple[Doc, list[Doc]]:
        """(job document, its task documents); NotFound when there is no such job."""
        doc = await self.find(job_id)
        if doc is None:
            raise NotFound(f"job not found: {job_id}")
        return doc, await self.tasks.list(job_id=job_id, limit=MAX_AGENTS)

    async def list(self, tool: str | None = None, user: str | None = None, state: str | None = None, limit: int = 50,
                   before: int | None = None, target: str | None = None, part: bool = False,
                   schedule: int | None = None, outcome: str | None = None) -> list[Doc]:
        """Newest first, at most ``limit``, with ids below ``before``; ``part``: users (and
        targets: the host, the URL, or tcp's host:port) containing the text given;
        ``schedule``: its rounds only; ``outcome``: ended jobs of that outcome (ok, partial, failed)."""
        if state is not None and state not in JOB_STATES:
            raise ValidationError(f"state: must be one of {', '.join(JOB_STATES)}")
        if outcome is not None and outcome not in JOB_OUTCOMES:
            raise ValidationError(f"outcome: must be one of {', '.join(JOB_OUTCOMES)}")
        query = JobQuery(tool=tool, user=user, target=target, state=state, before=before, part=part,
                         schedule=schedule, outcome=outcome)
        docs: list[Doc] = []
        for doc in await self.repo.newest(query, limit):
            live = self.counting.get(doc["_id"])
            docs.append(live.doc if live is not None else doc)
        return docs
