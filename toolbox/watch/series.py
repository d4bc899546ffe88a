"""Series: every finished task of a round becomes a point; points roll up hourly and daily.

``SeriesRecorder`` follows the event hub (as the job counter and the metrics do): a
``task.*`` event in a terminal state (not canceled) of a job that is a schedule's round
becomes one point (``toolbox.watch.points.point_of``) through ``record``, the one write
path (tests make 30 days of points through it).  Only the process that published the
event records it, so each task is one point.

``roll`` completes rollups: for each schedule, the whole hours since its ``rolled_until``
(only hours ended ``LAG`` ago, so late results are in), at most ``HOURS_PER_ROLL`` per
call, each hour's points summed per agent (``summarize``) into an ``hour`` rollup, at the
end of each six hours (00, 06, 12 and 18 UTC) a ``6h`` rollup from their points (so a month
is read as 120 buckets per agent, not 720 hours merged), and at each day's end a ``day``
rollup from that day's points.  ``prune`` deletes points (and
round entries) older than ``TOOLBOX_SERIES_POINTS_DAYS`` and rollups older than
``TOOLBOX_SERIES_ROLLUPS_DAYS``, ``PRUNE_BATCH`` documents per collection per call.
``sweep`` runs both at most once a minute, from the sweeper, so neither holds the loop long.
"""

import asyncio
import datetime
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from toolbox.store.db import Doc
from toolbox.store.faults import log_failure
from toolbox.task_states import CANCELED, TERMINAL_STATES
from toolbox.watch.points import point_of, summarize

if TYPE_CHECKING:
    from toolbox.core.events.bus import Hub
    from toolbox.core.events.hub import Event
    from toolbox.core.jobs.service import JobService
    from toolbox.store.repos.schedules import RoundRepo, ScheduleRepo
    from toolbox.store.repos.series_memory import Points, Rollups

log = logging.getLogger("toolbox.series")

HOUR, SIX_HOURS, DAY = datetime.timedelta(hours=1), datetime.timedelta(hours=6), datetime.timedelta(days=1)
LAG = datetime.timedelta(minutes=10)
HOURS_PER_ROLL = 48
PRUNE_BATCH = 1000
SWEEP_EVERY = 60.0  # seconds between two background roll-and-prune passes
JOB_CACHE = 1000


def floor_hour(when: datetime.datetime) -> datetime.datetime:
    return when.replace(minute=0, second=0, microsecond=0)


class SeriesRecorder:
    """Points from finished tasks; hourly and daily rollups; retention."""

    def __init__(self, points: "Points", rollups: "Rollups", schedules: "ScheduleRepo",
                 round_log: "RoundRepo", jobs: "JobService", events: "Hub",
                 now: Callable[[], datetime.datetime], points_days: float, rollups_days: float) -> None:
        self.points = points
        self.rollups = rollups
        self.schedules = schedules
        self.round_log = round_log
        self.jobs = jobs
        self.events = events
        self.now = now
        self.points_days = points_days  # 0: kept for ever
        self.rollups_days = rollups_days
        self._rounds: dict[int, tuple[int, Any] | None] = {}  # job id -> (schedule id, round time) or None
        self._writes: set[asyncio.Future[None]] = set()
        self._last_sweep: float | None = None

    async def start(self) -> None:
        await self.points.ensure_indexes()
        await self.rollups.ensure_indexes()
        self.events.subscribe(self.on_event)

    async def stop(self) -> None:
        self.events.unsubscribe(self.on_event)
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    def on_event(self, event: "Event") -> None:
        """A hub listener: a finished task of some job → write its point in the background."""
        data = event["data"]
        if (event.get("remote") or not event["type"].startswith("task.") or data.get("job_id") is None
                or data.get("state") not in TERMINAL_STATES or data.get("state") == CANCELED):
            return
        if self._rounds.get(data["job_id"], ()) is None:
            return  # a job that is no schedule's round
        write = asyncio.ensure_future(self._record_task(data))
        self._writes.add(write)
        write.add_done_callback(self._writes.discard)

    async def _round_of(self, job_id: int) -> tuple[int, Any] | None:
        if job_id not in self._rounds:
            job = await self.jobs.find(job_id)
            if len(self._rounds) >= JOB_CACHE:
                self._rounds.pop(next(iter(self._rounds)))
            self._rounds[job_id] = (job["schedule_id"], job["round_at"]) if job and job.get("schedule_id") else None
        return self._rounds[job_id]

    async def _record_task(self, task: Doc) -> None:
        try:
            found = await self._round_of(task["job_id"])
            if found is not None:
                await self.record(point_of(task, *found))
        except Exception:
            log_failure(log, "recording the point of task %s failed", task.get("task_id"))

    async def record(self, point: Doc) -> None:
        """Store one point (the write path of every point)."""
        await self.points.add_point(point)

    # --- rollups and retention ---

    async def roll(self) -> int:
        """Complete the rollups of every schedule up to the last whole hour; how many hours rolled."""
        done_until = floor_hour(self.now() - LAG)
        rolled = 0
        for mark in await self.schedules.roll_marks():
            start = mark.get("rolled_until")
            if start is None:
                first = await self.points.first_at(mark["_id"])
                if first is None:
                    continue
                start = floor_hour(first)
            hours = min(HOURS_PER_ROLL - rolled, int((done_until - start) / HOUR))
            if hours > 0:
                await self._roll_hours(mark["_id"], start, hours)
                rolled += hours
            if hours > 0 or mark.get("rolled_until") is None:
                await self.schedules.set_rolled(mark["_id"], start + max(hours, 0) * HOUR)
            if rolled >= HOURS_PER_ROLL:
                break
        return rolled

    async def _roll_hours(self, schedule_id: int, start: datetime.datetime, hours: int) -> None:
        """The ``hour`` rollups of ``hours`` hours from ``start`` (one read), and the ``6h``
        and ``day`` rollups of each six hours and day ending among them."""
        by_hour: dict[datetime.datetime, list[Doc]] = {}
        for point in await self.points.read_range(schedule_id, start, start + hours * HOUR):
            by_hour.setdefault(floor_hour(point["at"]), []).append(point)
        rollups: list[Doc] = []
        for n in range(hours):
            hour = start + n * HOUR
            rollups += self._bucket(schedule_id, "hour", hour, by_hour.get(hour, []))
            if (hour + HOUR).hour % 6 == 0:  # six hours end with this hour
                block = hour + HOUR - SIX_HOURS
                if block >= start:  # its hours are all in this read
                    points = [p for h in range(6) for p in by_hour.get(block + h * HOUR, [])]
                else:
                    points = await self.points.read_range(schedule_id, block, hour + HOUR)
                rollups += self._bucket(schedule_id, "6h", block, points)
            if (hour + HOUR).hour == 0:  # the day ends with this hour
                day = hour + HOUR - DAY
                rollups += self._bucket(schedule_id, "day", day,
                                        await self.points.read_range(schedule_id, day, hour + HOUR))
        await self.rollups.put_rollups(rollups)

    @staticmethod
    def _bucket(schedule_id: int, tier: str, at: datetime.datetime, points: list[Doc]) -> list[Doc]:
        by_agent: dict[str, list[Doc]] = {}
        for point in points:
            by_agent.setdefault(point["agent"], []).append(point)
        return [dict(summarize(items), schedule_id=schedule_id, agent=agent, tier=tier, at=at)
                for agent, items in by_agent.items()]

    async def prune(self) -> int:
        """Delete a batch of points, round entries and rollups past their retention; how many."""
        now, removed = self.now(), 0
        if self.points_days:
            cutoff = now - datetime.timedelta(days=self.points_days)
            removed += await self.points.prune_before(cutoff, PRUNE_BATCH)
            removed += await self.round_log.prune_before(cutoff, PRUNE_BATCH)
        if self.rollups_days:
            removed += await self.rollups.prune_before(now - datetime.timedelta(days=self.rollups_days), PRUNE_BATCH)
        return removed

    async def sweep(self) -> None:
        """Roll and prune, at most once per ``SWEEP_EVERY`` seconds (the sweeper calls it each tick)."""
        loop_time = asyncio.get_running_loop().time()
        if self._last_sweep is not None and loop_time - self._last_sweep < SWEEP_EVERY:
            return
        self._last_sweep = loop_time
        await self.roll()
        await self.prune()

    async def delete_schedule(self, schedule_id: int) -> None:
        await self.points.delete_schedule(schedule_id)
        await self.rollups.delete_schedule(schedule_id)
