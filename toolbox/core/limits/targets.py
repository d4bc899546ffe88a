"""The target limit: at most ``limit`` unfinished tasks aimed at one target, across all agents.

``TargetLimiter`` is the embedded database's, in memory, with an injectable ``clock``
(seconds, monotonic); with a shared MongoDB, ``toolbox.core.limits.shared.SharedTargets``
keeps the same rule in the database.  Tasks are tracked by id (from task events); a job
``reserve``s its slots before its tasks exist, so that two jobs created concurrently
cannot both pass.  Each tracked task carries the latest moment it can still be
unfinished (its timeouts), which bounds the Retry-After of a refused job.  Job starts
per user are ``toolbox.people.throttle.SlidingWindow``.
"""

import collections
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from toolbox.errors import RateLimited, ValidationError
from toolbox.task_states import DISPATCHED, QUEUED

if TYPE_CHECKING:
    from toolbox.core.tasks.service import TaskService
    from toolbox.store.db import Doc

# A refused job is told to retry after at most this many seconds, even when its slots
# are only guaranteed to free later (tasks usually finish long before their timeouts).
MAX_TARGET_RETRY_AFTER = 60.0


class TargetLimiter:
    """At most ``limit`` unfinished tasks aimed at one target, across all agents."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self.tasks: dict[int, tuple[str, float]] = {}  # task id -> (target, clock time by which it is surely finished)
        self.by_target: collections.Counter[str] = collections.Counter()  # target -> tracked unfinished tasks
        self.reserved: collections.Counter[str] = collections.Counter()  # target -> slots held for tasks being created

    async def start(self, tasks: "TaskService", time_left: Callable[["Doc"], float]) -> None:
        """Follow the unfinished tasks already stored (``time_left(task)``: seconds it may still take)."""
        for state in (QUEUED, DISPATCHED):
            for doc in await tasks.list(state=state, limit=10**7):
                if doc.get("target"):
                    self.track(doc["_id"], doc["target"], time_left(doc))

    async def unfinished(self, target: str) -> int:
        """``count``, as the shared limit is asked."""
        return self.count(target)

    def count(self, target: str) -> int:
        """Unfinished tasks aimed at ``target``, counting reservations."""
        return self.by_target[target] + self.reserved[target]

    def retry_after(self, target: str, needed: int) -> float:
        """Seconds until ``needed`` slots are surely free for ``target`` (capped)."""
        excess = self.count(target) + needed - self.limit
        if excess <= 0:
            return 0.0
        ends = sorted(end for tgt, end in self.tasks.values() if tgt == target)
        if excess > len(ends):  # held by reservations: a moment, not a timeout away
            return 1.0
        wait = ends[excess - 1] - self.clock()
        return min(max(wait, 1.0), MAX_TARGET_RETRY_AFTER)

    def reserve(self, target: str, needed: int) -> None:
        """Hold ``needed`` slots for a job's tasks, or raise (the job is refused whole)."""
        if needed > self.limit:
            raise ValidationError(f"this job would send {needed} tasks to {target}; at most "
                                  f"{self.limit} may be unfinished at once: select fewer agents")
        wait = self.retry_after(target, needed)
        if wait > 0:
            raise RateLimited(f"too many unfinished tasks aimed at {target} (limit {self.limit}); "
                              f"retry in {max(1, int(wait + 0.999))} s", wait)
        self.reserved[target] += needed

    async def acquire(self, target: str, needed: int) -> None:
        """``reserve``, as the shared limit (``toolbox.core.limits.shared``) is called."""
        self.reserve(target, needed)

    def release(self, target: str, needed: int) -> None:
        """Give back a reservation (its tasks are tracked by id now, or were never made)."""
        self.reserved[target] -= needed
        if self.reserved[target] <= 0:
            del self.reserved[target]

    def track(self, task_id: int, target: str, finished_within: float) -> None:
        """Count an unfinished task, surely finished within ``finished_within`` seconds."""
        end = self.clock() + finished_within
        if task_id not in self.tasks:
            self.by_target[target] += 1
        self.tasks[task_id] = (target, end)

    def finish(self, task_id: int) -> None:
        """A task ended; free its slot (unknown ids are ignored)."""
        entry = self.tasks.pop(task_id, None)
        if entry is not None:
            self.by_target[entry[0]] -= 1
            if self.by_target[entry[0]] <= 0:
                del self.by_target[entry[0]]

    def target_of(self, task_id: int) -> str | None:
        entry = self.tasks.get(task_id)
        return entry[0] if entry else None
