"""The database's health, kept by a background check so that ``/healthz`` never waits.

``DatabaseHealth`` pings the database every ``interval`` seconds, each ping bounded by
``timeout`` (a ping that does not answer in time counts as a failure: the probe does not
wait for the driver's own server selection).  It keeps the last successful round trip's
time and duration and the current error; ``status`` reads them (no I/O): ``ok``,
``degraded`` (answering, but the last round trip took ``slow`` seconds or more) or
``unavailable`` (the last ping failed, with why and since when).  A ping goes through the
same client as every request, so its round trip includes any queue in front of the
driver: that is what a request would wait.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from toolbox.store.db import Database, PyMongoError
from toolbox.store.faults import OUTAGES, Outages, outage_kind

log = logging.getLogger("toolbox.db")

OK, DEGRADED, UNAVAILABLE = "ok", "degraded", "unavailable"


class DatabaseHealth:
    """The last ping's outcome; ``start`` runs the check until ``stop``."""

    def __init__(self, db: Database, interval: float = 1.0, timeout: float = 2.0, slow: float = 0.2,
                 outages: Outages = OUTAGES, clock: Callable[[], float] = time.monotonic) -> None:
        self.db, self.interval, self.timeout, self.slow = db, interval, timeout, slow
        self.outages, self.clock = outages, clock
        self.last_ok: float | None = None  # when the last ping answered (``clock``)
        self.rtt: float | None = None  # how long that ping took, seconds
        self.error: str | None = None  # why the last ping failed (None: it answered)
        self.error_since: float | None = None
        self.observers: list[Callable[[float], None]] = []  # told each round trip (metrics)
        self._task: asyncio.Future[None] | None = None

    async def check(self) -> None:
        """One ping, bounded by ``timeout``; its outcome kept."""
        started = self.clock()
        try:
            await asyncio.wait_for(self.db.ping(), self.timeout)
        except asyncio.TimeoutError:
            self._failed("timeout", f"no answer to a ping within {self.timeout:g} s")
        except (PyMongoError, OSError) as error:
            kind = outage_kind(error) or "connection"
            self._failed(kind, f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:160]}")
        else:
            now = self.clock()
            self.last_ok, self.rtt = now, now - started
            self.error = self.error_since = None
            self.outages.recovered()
            for observe in self.observers:
                observe(self.rtt)

    def _failed(self, kind: str, detail: str) -> None:
        if self.error is None:
            self.error_since = self.clock()
        self.error = detail
        self.outages.failed(kind, f"{detail} (health check)")

    async def start(self) -> None:
        """Check once now (so the first probe is already right), then every ``interval``."""
        await self.check()
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.check()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    @property
    def state(self) -> str:
        if self.error is not None or self.last_ok is None:
            return UNAVAILABLE
        return DEGRADED if self.rtt is not None and self.rtt >= self.slow else OK

    def status(self) -> dict[str, Any]:
        """What ``/healthz`` says: the state, the last round trip, and the error when there is one."""
        now = self.clock()
        found: dict[str, Any] = {"state": self.state,
                                 "rtt_ms": None if self.rtt is None else round(self.rtt * 1000, 1),
                                 "last_ok_s_ago": None if self.last_ok is None else round(now - self.last_ok, 1)}
        if self.error is not None:
            found["error"] = self.error
            found["failing_for_s"] = round(now - (self.error_since or now), 1)
        return found
