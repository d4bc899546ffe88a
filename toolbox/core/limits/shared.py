"""The job rate limits kept in MongoDB: one budget for every server process on the database.

The in-memory limits (``toolbox.people.throttle.SlidingWindow`` for jobs per user,
``toolbox.core.limits.targets``) hold for one process; with several behind one address a
user could start ``TOOLBOX_JOBS_PER_MINUTE`` jobs on each.  These keep the
same rules in the database:

- ``SharedWindow``: at most ``limit`` hits per key in any ``window`` seconds, kept in
  ``rate_limits`` (``toolbox.store.repos.rate_limits``: two processes cannot both take
  the last slot).
- ``SharedTargets``: at most ``limit`` unfinished tasks aimed at one target, counted in
  ``tasks`` (indexed by target and state) when a job is created.  Two jobs created at the
  same moment on two processes can both pass a nearly full target (the count and the
  insert are not one operation); the excess is bounded by one job's size.

Both have the in-memory limits' interface (``acquire``/``release`` for both, and
``track``/``finish``/``target_of``, unused here).
"""

import datetime
from collections.abc import Callable
from typing import Any

from toolbox import clock
from toolbox.store.db import Doc
from toolbox.store.repos.rate_limits import RateLimitRepo
from toolbox.store.repos.tasks import TaskRepo
from toolbox.errors import RateLimited, ValidationError
from toolbox.core.limits.targets import MAX_TARGET_RETRY_AFTER, TargetLimiter
from toolbox.core.timings import TaskTimes
from toolbox.people.throttle import SlidingWindow


class SharedWindow:
    """At most ``limit`` hits per key in any ``window`` seconds, across processes."""

    def __init__(self, repo: RateLimitRepo, limit: int, window: float = 60.0) -> None:
        self.repo = repo
        self.limit = limit
        self.window = window

    async def acquire(self, key: str, what: str = "requests") -> datetime.datetime:
        """Take one hit for ``key`` now (a token for ``release``), or raise RateLimited."""
        now = clock.utcnow()
        cutoff = now - datetime.timedelta(seconds=self.window)
        if not await self.repo.take(key, now, cutoff, self.limit):
            hits = sorted(hit for hit in await self.repo.hits(key) if clock.aware(hit) > cutoff)
            oldest = clock.aware(hits[-self.limit]) if len(hits) >= self.limit else now
            wait = max((oldest - cutoff).total_seconds(), 0.001)
            raise RateLimited(f"too many {what}: at most {self.limit} per {self.window:g} seconds; "
                              f"retry in {max(1, int(wait + 0.999))} s", wait)
        return now

    async def release(self, key: str, token: Any) -> None:
        """Give back a hit taken by ``acquire`` (its job was refused for another reason)."""
        await self.repo.give_back(key, token)


class SharedTargets:
    """At most ``limit`` unfinished tasks per target, counted in the ``tasks`` collection."""

    def __init__(self, tasks: TaskRepo, limit: int, times: TaskTimes) -> None:
        self.tasks = tasks
        self.limit = limit
        self.times = times

    async def start(self, tasks: Any, time_left: Callable[[Doc], float]) -> None:
        """Nothing to follow: the unfinished tasks are counted (on the tasks repository's
        ``target_state`` index)."""

    async def unfinished(self, target: str) -> int:
        """Unfinished tasks aimed at ``target``, as stored."""
        return await self.tasks.unfinished_for(target)

    async def acquire(self, target: str, needed: int) -> None:
        """Let a job of ``needed`` tasks aim at ``target``, or raise (the job is refused whole)."""
        if needed > self.limit:
            raise ValidationError(f"this job would send {needed} tasks to {target}; at most "
                                  f"{self.limit} may be unfinished at once: select fewer agents")
        if await self.unfinished(target) + needed <= self.limit:
            return
        task = await self.tasks.oldest_unfinished_for(target)
        wait = MAX_TARGET_RETRY_AFTER
        if task is not None:  # the oldest surely ends by its delivery timeout plus its own bound
            ends = clock.aware(task["created_at"]) + datetime.timedelta(
                seconds=self.times.delivery_timeout + self.times.task_grace
                + (task.get("time_limit") or self.times.task_timeout))
            wait = min(max((ends - clock.utcnow()).total_seconds(), 1.0), MAX_TARGET_RETRY_AFTER)
        raise RateLimited(f"too many unfinished tasks aimed at {target} (limit {self.limit}); "
                          f"retry in {max(1, int(wait + 0.999))} s", wait)

    def release(self, target: str, needed: int) -> None:
        """Nothing held: the tasks themselves are counted."""

    def track(self, task_id: int, target: str, finished_within: float) -> None:
        """Tasks are counted in the database, not followed."""

    def finish(self, task_id: int) -> None:
        """Tasks are counted in the database, not followed."""

    def target_of(self, task_id: int) -> str | None:
        return None


# Each limit's two kinds, as the services are handed them (``toolbox.server.variants``).
JobWindow = SlidingWindow | SharedWindow
Targets = TargetLimiter | SharedTargets
