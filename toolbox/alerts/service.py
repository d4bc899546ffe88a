"""Alert rules and alerts: a schedule's rules, evaluated once per round, and what they raise.

Evaluation.  When a round's job ends (``job.done``, published by the process that counts
the job: the one that ran the round), ``on_event`` evaluates every enabled rule of the
schedule on the round's points (the job's tasks read as ``toolbox.watch.points.point_of``
reads them) with the pure functions of ``toolbox.alerts.rules``.  The rule's new state and
the round's transition go in one write (``RuleRepo.advance``): it succeeds only if the
rule's ``eval`` still names the round this process read, so a round is evaluated once
across processes.  The transition lands in the rule's outbox in that same write, and
``_flush`` writes it out (the alert, its notifications, each keyed so that a second writer
changes nothing) and then takes it off the outbox.  A process dying anywhere in between
leaves either the old state (the round is evaluated again, by the sweeper of any process:
``catch_up``, which reads the schedule's last round) or an outbox that the next sweep
flushes: nothing lost, nothing sent twice.

Alerts go ``firing`` → ``resolved``, with the agents and what each saw, the rounds that
violated the rule (at most ``MAX_ROUNDS_KEPT``), acknowledgement and silence.  A reminder
is sent every ``remind_every`` minutes while an alert fires, unless it is acknowledged or
silenced; a silenced alert (``silenced_until``) or rule sends nothing until then.
"""

import asyncio
import datetime
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from toolbox import clock
from toolbox.alerts.rules import fresh_state, next_fps, rule_fields, run_rounds, step, verdict
from toolbox.core.jobs.selection import MAX_AGENTS
from toolbox.errors import Forbidden, NotFound, ValidationError
from toolbox.presenters import task_detail
from toolbox.store.db import Doc
from toolbox.store.faults import log_failure
from toolbox.watch.points import point_of

if TYPE_CHECKING:
    from toolbox.alerts.channels import ChannelService
    from toolbox.alerts.notifier import Notifier
    from toolbox.core.events.bus import Hub
    from toolbox.core.events.hub import Event
    from toolbox.core.jobs.service import JobService
    from toolbox.core.tasks.service import TaskService
    from toolbox.people.principals import Principal
    from toolbox.store.repos.alerts import AlertRepo, RuleRepo
    from toolbox.store.repos.schedules import ScheduleRepo
    from toolbox.store.repos.series_memory import Points

log = logging.getLogger("toolbox.alerts")

MAX_RULES = 50  # per schedule
MAX_ROUNDS_KEPT = 50
CATCH_UP_EVERY = 5.0  # seconds between two sweeps for rounds nobody evaluated
STATES = ("firing", "resolved")


def round_ms(when: datetime.datetime) -> int:
    return int(clock.aware(when).timestamp() * 1000)


class AlertService:
    """Rules (``create_rule`` …), their evaluation (``evaluate_job``, ``sweep``), alerts (``list`` …)."""

    def __init__(self, rules: "RuleRepo", alerts: "AlertRepo", notifier: "Notifier", channels: "ChannelService",
                 schedules: "ScheduleRepo", jobs: "JobService", tasks: "TaskService", events: "Hub",
                 now: Callable[[], datetime.datetime], points: "Points | None" = None) -> None:
        self.points = points  # the stored points a preview replays
        self.rules = rules
        self.alerts = alerts
        self.notifier = notifier
        self.channels = channels
        self.schedules = schedules
        self.jobs = jobs
        self.tasks = tasks
        self.events = events
        self.now = now
        self._work: set[asyncio.Future[None]] = set()
        self._last_catch_up: float | None = None

    async def start(self) -> None:
        await self.rules.ensure_indexes()
        await self.alerts.ensure_indexes()
        await self.notifier.start()
        self.events.subscribe(self.on_event)

    async def stop(self) -> None:
        self.events.unsubscribe(self.on_event)
        if self._work:
            await asyncio.gather(*self._work, return_exceptions=True)
        await self.notifier.stop()

    # --- rules ---

    async def _schedule(self, schedule_id: int) -> Doc:
        doc = await self.schedules.get(schedule_id)
        if doc is None:
            raise NotFound(f"schedule not found: {schedule_id}")
        return doc

    @staticmethod
    def _check_may_change(principal: "Principal", schedule: Doc) -> None:
        if principal.role != "admin" and (schedule.get("owner_id") is None
                                          or schedule.get("owner_id") != principal.user_id):
            raise Forbidden(f"schedule {schedule['_id']} is {schedule.get('owner')}'s: "
                            "operators change the rules of their own only")

    async def rule(self, schedule_id: int, rule_id: int) -> Doc:
        doc = await self.rules.get(rule_id)
        if doc is None or doc.get("schedule_id") != schedule_id:
            raise NotFound(f"alert rule not found: {rule_id}")
        return doc

    async def rules_of(self, schedule_id: int) -> list[Doc]:
        await self._schedule(schedule_id)
        return await self.rules.of_schedule(schedule_id, MAX_RULES)

    async def create_rule(self, principal: "Principal", schedule_id: int, body: Any) -> Doc:
        schedule = await self._schedule(schedule_id)
        self._check_may_change(principal, schedule)
        fields = rule_fields(body)
        await self.channels.check_ids(fields["channels"])
        if len(await self.rules.of_schedule(schedule_id, MAX_RULES)) >= MAX_RULES:
            raise ValidationError(f"schedule {schedule_id} has {MAX_RULES} rules already")
        now, last = self.now(), schedule.get("last_round") or {}
        # evaluated from the next round on: a round that ended before the rule is not its to judge
        state = dict(fresh_state(), round_at=round_ms(last["at"]) if last.get("at") else None)
        return await self.rules.insert(dict(fields, schedule_id=schedule_id, created_by=principal.name,
                                            created_at=now, updated_at=now, silenced_until=None,
                                            eval=state, outbox=[]))

    async def update_rule(self, principal: "Principal", schedule_id: int, rule_id: int, body: Any) -> Doc:
        self._check_may_change(principal, await self._schedule(schedule_id))
        before = await self.rule(schedule_id, rule_id)
        fields = rule_fields(body, before)
        if "silenced_until" in (body or {}):
            fields["silenced_until"] = silence_time(body["silenced_until"], self.now())
        if "channels" in fields:
            await self.channels.check_ids(fields["channels"])
        after = await self.rules.update(rule_id, dict(fields, updated_at=self.now()))
        if after is None:
            raise NotFound(f"alert rule not found: {rule_id}")
        return after

    async def delete_rule(self, principal: "Principal", schedule_id: int, rule_id: int) -> Doc:
        self._check_may_change(principal, await self._schedule(schedule_id))
        doc = await self.rule(schedule_id, rule_id)
        await self.rules.delete(rule_id)
        return doc

    async def preview(self, schedule_id: int, body: Any, hours: int = 24) -> Doc:
        """What a rule (not stored) would have done over the last ``hours`` of stored points:
        ``{rounds, fired, cleared, firing_now, periods: [{from, to}]}``."""
        await self._schedule(schedule_id)
        fields = rule_fields(body)
        end = self.now()
        points = await self.points.read_range(schedule_id, end - datetime.timedelta(hours=hours), end) \
            if self.points is not None else []
        by_round: dict[Any, list[Doc]] = {}
        for point in points:
            by_round.setdefault(point["at"], []).append(point)
        times = sorted(by_round)
        transitions = run_rounds(fields, [by_round[at] for at in times])
        periods: list[Doc] = []
        for at, transition in zip(times, transitions):
            if transition == "fire":
                periods.append({"from": clock.isoformat(at), "to": None})
            elif transition == "clear" and periods:
                periods[-1]["to"] = clock.isoformat(at)
        return {"hours": hours, "rounds": len(times), "fired": transitions.count("fire"),
                "cleared": transitions.count("clear"), "firing_now": bool(periods) and periods[-1]["to"] is None,
                "periods": periods}

    async def forget_schedule(self, schedule_id: int) -> None:
        """Delete a deleted schedule's rules (its alerts stay in the history)."""
        await self.rules.delete_schedule(schedule_id)

    # --- evaluation ---

    def on_event(self, event: "Event") -> None:
        """A hub listener: a round's job ended here → evaluate its schedule's rules."""
        data = event["data"]
        if event["type"] != "job.done" or event.get("remote") or data.get("schedule_id") is None:
            return
        self._spawn(self._evaluate_job_id(data["job_id"]))

    def _spawn(self, work: Any) -> None:
        future = asyncio.ensure_future(work)
        self._work.add(future)
        future.add_done_callback(self._work.discard)

    async def _evaluate_job_id(self, job_id: int) -> None:
        try:
            job = await self.jobs.find(job_id)
            if job is not None:
                await self.evaluate_job(job)
        except Exception:  # a database fault is logged once per outage; the sweep tries again
            log_failure(log, "evaluating the alert rules of job %s failed (the sweep tries again)", job_id)

    async def evaluate_job(self, job: Doc) -> int:
        """Evaluate the schedule's rules on the round ``job`` ran; how many transitions."""
        sid, round_at = job.get("schedule_id"), job.get("round_at")
        if sid is None or round_at is None:
            return 0
        rules = [r for r in await self.rules.of_schedule(sid, MAX_RULES) if r.get("enabled")]
        if not rules:
            return 0
        tasks = await self.tasks.list(job_id=job["_id"], limit=MAX_AGENTS)
        points = [point_of(task_detail(task), sid, round_at) for task in tasks]
        schedule = await self.schedules.get(sid) or {}
        changed = 0
        for rule in rules:
            changed += await self._evaluate(rule, schedule, job, points)
        return changed

    async def _evaluate(self, rule: Doc, schedule: Doc, job: Doc, points: list[Doc]) -> int:
        state = rule.get("eval") or fresh_state()
        at_ms = round_ms(job["round_at"])
        if state.get("round_at") is not None and state["round_at"] >= at_ms:
            return 0  # evaluated already (here or by another process)
        result = verdict(rule["when"], points, state.get("fps") or {})
        new, transition = step(rule, state, result)
        new.update(round_at=at_ms, fps=next_fps(state.get("fps") or {}, points))
        entry: Doc | None = None
        round_info = {"at": job["round_at"], "job_id": job["_id"], "matched": len(result.matched),
                      "total": result.total}
        agents = sorted(result.matched.values(), key=lambda s: s["agent"])
        if transition == "fire":
            alert_id = await self.rules.next_alert_id()
            new["alert_id"] = alert_id
            entry = {"id": f"fire:{alert_id}", "kind": "fire", "alert": {
                "_id": alert_id, "rule_id": rule["_id"], "schedule_id": rule["schedule_id"],
                "rule_name": rule.get("name") or describe(rule), "schedule_name": schedule.get("name"),
                "target": schedule.get("target"), "tool": schedule.get("tool"), "state": "firing",
                "agents": agents, "started_at": job["round_at"], "fired_at": self.now(), "resolved_at": None,
                "job_id": job["_id"], "last_job_id": job["_id"], "rounds": [round_info],
                "acknowledged_by": None, "acknowledged_at": None, "silenced_until": None,
                "reminders": 0, "reminded_at": None, "when": rule["when"]}}
        elif transition == "clear":
            entry = {"id": f"clear:{state.get('alert_id')}", "kind": "clear", "alert_id": state.get("alert_id"),
                     "resolved_at": job["round_at"], "job_id": job["_id"], "round": round_info}
            new["alert_id"] = None
        won = await self.rules.advance(rule["_id"], state.get("round_at"), new, entry)
        if won is None:
            return 0  # another process evaluated this round first
        if transition is None and new.get("firing") and new.get("alert_id") and result.matched:
            await self.alerts.update(new["alert_id"], {"last_job_id": job["_id"], "agents": agents},
                                     push={"rounds": {"$each": [round_info], "$slice": -MAX_ROUNDS_KEPT}})
        await self._flush(won)
        return 1 if transition else 0

    async def _flush(self, rule: Doc) -> None:
        """Write out the rule's outbox: each transition's alert and notifications, then drop it."""
        for entry in list(rule.get("outbox") or []):
            quiet = _silenced(rule.get("silenced_until"), self.now())
            if entry["kind"] == "fire":
                alert = entry["alert"]
                await self.alerts.put_new(alert)
                if not quiet:
                    await self.notifier.queue(alert, "fire", rule.get("channels") or [])
                self.events.publish("alert.fired", {"alert_id": alert["_id"], "rule_id": rule["_id"],
                                                    "schedule_id": rule["schedule_id"]})
            elif entry["kind"] == "clear" and entry.get("alert_id") is not None:
                resolved = await self.alerts.resolve(entry["alert_id"], {
                    "resolved_at": entry["resolved_at"], "resolved_job_id": entry["job_id"]})
                alert = resolved or await self.alerts.get(entry["alert_id"])
                if alert is not None:
                    if not quiet and not _silenced(alert.get("silenced_until"), self.now()):
                        await self.notifier.queue(alert, "clear", rule.get("channels") or [])
                    if resolved is not None:
                        self.events.publish("alert.resolved", {"alert_id": alert["_id"], "rule_id": rule["_id"],
                                                               "schedule_id": rule["schedule_id"]})
            await self.rules.done_with(rule["_id"], entry["id"])

    async def catch_up(self) -> None:
        """Evaluate rounds that ended with no evaluation (their process died), and outboxes left."""
        for rule in await self.rules.with_outbox():
            await self._flush(rule)
        by_schedule: dict[int, list[Doc]] = {}
        for rule in await self.rules.enabled():
            by_schedule.setdefault(rule["schedule_id"], []).append(rule)
        for sid, rules in by_schedule.items():
            last = ((await self.schedules.get(sid)) or {}).get("last_round") or {}
            if not last.get("job_id") or not last.get("at"):
                continue
            if all(((r.get("eval") or {}).get("round_at") or 0) >= round_ms(last["at"]) for r in rules):
                continue
            job = await self.jobs.find(last["job_id"])
            if job is not None and job.get("state") != "running":
                await self.evaluate_job(job)

    async def remind(self) -> None:
        """Send the reminders due: firing, not acknowledged, not silenced, ``remind_every`` passed."""
        now = self.now()
        for alert in await self.alerts.list(state="firing", limit=500):
            if alert.get("acknowledged_at") or _silenced(alert.get("silenced_until"), now):
                continue
            rule = await self.rules.get(alert["rule_id"])
            every = (rule or {}).get("remind_every") or 0
            if not every or _silenced((rule or {}).get("silenced_until"), now):
                continue
            last = clock.aware(alert.get("reminded_at") or alert["fired_at"])
            if now - last < datetime.timedelta(minutes=every):
                continue
            taken = await self.alerts.claim_reminder(alert["_id"], int(alert.get("reminders") or 0), now)
            if taken is not None and rule is not None:
                await self.notifier.queue(taken, "remind", rule.get("channels") or [], seq=taken["reminders"])

    async def sweep(self) -> None:
        """From the sweeper: retries and stale claims, reminders, and (every few seconds) catch-up."""
        await self.notifier.sweep()
        await self.remind()
        loop_time = asyncio.get_running_loop().time()
        if self._last_catch_up is None or loop_time - self._last_catch_up >= CATCH_UP_EVERY:
            self._last_catch_up = loop_time
            await self.catch_up()

    # --- alerts ---

    async def list(self, state: str | None = None, rule_id: int | None = None, schedule_id: int | None = None,
                   limit: int = 50, before: int | None = None) -> list[Doc]:
        if state is not None and state not in STATES:
            raise ValidationError("state: firing or resolved")
        return await self.alerts.list(state=state, rule_id=rule_id, schedule_id=schedule_id, limit=limit,
                                      before=before)

    async def get(self, alert_id: int) -> Doc:
        doc = await self.alerts.get(alert_id)
        if doc is None:
            raise NotFound(f"alert not found: {alert_id}")
        return doc

    async def acknowledge(self, principal: "Principal", alert_id: int) -> Doc:
        doc = await self.get(alert_id)
        if doc["state"] != "firing":
            raise ValidationError(f"alert {alert_id} is {doc['state']}: only a firing alert is acknowledged")
        return await self.alerts.update(alert_id, {"acknowledged_by": principal.name,
                                                   "acknowledged_at": self.now()}) or doc

    async def silence(self, alert_id: int, until: Any) -> Doc:
        await self.get(alert_id)
        return await self.alerts.update(alert_id, {"silenced_until": silence_time(until, self.now())}) \
            or await self.get(alert_id)

    async def firing_count(self) -> int:
        return await self.alerts.count_firing()


def _silenced(until: Any, now: datetime.datetime) -> bool:
    return isinstance(until, datetime.datetime) and clock.aware(until) > now


def silence_time(value: Any, now: datetime.datetime) -> datetime.datetime | None:
    """A silence's end: an ISO time within a year from now, or null (no silence)."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise ValidationError("silenced_until: an ISO-8601 time or null")
    try:
        when = clock.aware(datetime.datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        raise ValidationError("silenced_until: an ISO-8601 time or null") from None
    if when > now + datetime.timedelta(days=366):
        raise ValidationError("silenced_until: at most a year from now")
    return when


def describe(rule: Doc) -> str:
    """A rule's default name, e.g. ``loss_pct >= 50 on 2+ agents, 2 of 3 rounds``."""
    when = rule["when"]
    if "metric" in when:
        cond = f"{when['metric']} {when['op']} {when['value']:g}"
    else:
        (key, arg), = when.items()
        cond = f"{key} {arg}"
    who = f"{rule['min_pct']:g} % of agents" if rule.get("min_pct") else f"{rule.get('min_agents', 1)}+ agents"
    return f"{cond} on {who}, {rule['rounds']} of {rule['of_rounds']} rounds"
