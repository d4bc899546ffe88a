"""Throttles of people and credentials: hits per key in a sliding window, and failed
credential checks per client address.

Plain in-memory objects with an injectable ``clock`` (seconds, monotonic), so tests move
time instead of sleeping.  They hold for one server process; with a shared MongoDB the
jobs-per-user window is ``toolbox.core.limits.shared.SharedWindow`` instead.

- ``SlidingWindow``: at most ``limit`` hits per key within any ``window`` seconds (job
  starts per user, admin-token logins per address).  ``retry_after(key)`` says how long
  until the oldest hit in the window drops out.
- ``FailureThrottle``: at most ``limit`` failed credential checks (agent token, API token,
  admin token, login link or state) per client address in any 60 seconds; then that
  address is refused with 429 before its credentials are even checked, except for a
  credential that has already proved right from that address (a working agent behind
  the same NAT as a guesser keeps working).
"""

import collections
import hashlib
import time
from collections.abc import Callable, Hashable
from typing import Any

from toolbox.errors import RateLimited


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
