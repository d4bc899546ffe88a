"""Rate limits: job starts per user, unfinished tasks per target, failed credentials per address.

Plain in-memory objects with an injectable ``clock`` (seconds, monotonic), so tests
move time instead of sleeping.  Both limits are per server process: the embedded
database's; with a shared MongoDB, ``toolbox.core.shared_limits`` keeps the same rules in
the database.

- ``SlidingWindow``: at most ``limit`` hits per key within any ``window`` seconds.
  ``retry_after(key)`` says how long until the oldest hit in the window drops out.
- ``FailureThrottle``: at most ``limit`` failed credential checks (agent token, API token,
  admin token, login link or state) per client address in any 60 seconds; then that
  address is refused with 429 before its credentials are even checked, except for a
  credential that has already proved right from that address (a working agent behind
  the same NAT as a guesser keeps working).
- ``TargetLimiter``: at most ``limit`` unfinished tasks aimed at one target across all
  agents.  Tasks are tracked by id (from task events); a job ``reserve``s its slots
  before its tasks exist, so that two jobs created concurrently cannot both pass.
  Each tracked task carries the latest moment it can still be unfinished (its timeouts),
  which bounds the Retry-After of a refused job.
"""

import collections
import hashlib
import time
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from toolbox.errors import RateLimited, ValidationError
from toolbox.task_states import DISPATCHED, QUEUED

if TYPE_CHECKING:
    from toolbox.core.tasks import TaskService
    from toolbox.store.db import Doc

# A refused job is told to retry after at most this many seconds, even when its slots
# are only guaranteed to free later (tasks usually finish long before their timeouts).
MAX_TARGET_RETRY_AFTER = 60.0


class SlidingWindow:
    """At most ``limit`` hits per key in any ``window`` seconds."""

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.hits: dict[Hashable, collections.deque[float]] = {}  # key -> deque of hit times, oldest first

    def _recent(self, key: Hashable, now: float) -> collections.deque[float] | None:
        hits = self.hits.get(key)
        if hits is None:
            return None
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if not hits:
            del self.hits[key]
            return None
        return hits

    def retry_after(self, key: Hashable) -> float:
        """Seconds until ``key`` may hit again (0 when it may now)."""
        now = self.clock()
        hits = self._recent(key, now)
        if hits is None or len(hits) < self.limit:
            return 0.0
        return hits[-self.limit] + self.window - now

    def check(self, key: Hashable, what: str = "requests") -> None:
        """Raise RateLimited when ``key`` has used up its window."""
        wait = self.retry_after(key)
        if wait > 0:
            raise RateLimited(f"too many {what}: at most {self.limit} per {self.window:g} seconds; "
                              f"retry in {max(1, int(wait + 0.999))} s", wait)

    def hit(self, key: Hashable) -> float:
        """Record one hit for ``key`` now; return its time."""
        now = self.clock()
        self.hits.setdefault(key, collections.deque()).append(now)
        return now

    async def acquire(self, key: Hashable, what: str = "requests") -> float:
        """Check and record one hit (no await in between); a token for ``release``."""
        self.check(key, what)
        return self.hit(key)

    async def release(self, key: Hashable, token: Any) -> None:
        """Forget a hit recorded by ``acquire`` (its job was refused for another reason)."""
        hits = self.hits.get(key)
        if hits is not None and token in hits:
            hits.remove(token)

    def purge(self) -> None:
        """Forget keys with no hit left in the window (bounds memory across many keys)."""
        now = self.clock()
        for key in list(self.hits):
            self._recent(key, now)


def credential_proof(kind: str, *parts: str) -> bytes:
    """A short digest naming a presented credential (never the credential itself)."""
    digest = hashlib.sha256("\x00".join((kind, *parts)).encode("utf-8", "replace")).digest()
    return digest[:16]


class FailureThrottle:
    """Failed credential checks per client address; proven credentials pass regardless."""

    PURGE_EVERY = 1000  # failures between purges of quiet addresses
    MAX_PROVEN = 100_000  # (address, credential) pairs remembered, least recently used dropped

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = SlidingWindow(limit, window, clock)
        # (address, proof) -> True, least recent first
        self.proven: collections.OrderedDict[tuple[str | None, bytes], bool] = collections.OrderedDict()
        self._since_purge = 0

    def check(self, address: str | None, proof: bytes | None = None) -> None:
        """Raise RateLimited when ``address`` has failed too often, unless ``proof`` names a
        credential that has already succeeded from it."""
        if proof is not None and (address, proof) in self.proven:
            return
        self.failures.check(address, "failed credential checks from this address")

    def failed(self, address: str | None) -> None:
        self.failures.hit(address)
        self._since_purge += 1
        if self._since_purge >= self.PURGE_EVERY:
            self._since_purge = 0
            self.failures.purge()

    def succeeded(self, address: str | None, proof: bytes) -> None:
        key = (address, proof)
        self.proven[key] = True
        self.proven.move_to_end(key)
        if len(self.proven) > self.MAX_PROVEN:
            self.proven.popitem(last=False)


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
        """``reserve``, as the shared limit (``toolbox.core.shared_limits``) is called."""
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
