"""Which server process counts a job: the one that created it, until it is gone.

A job is counted in memory by one process (``toolbox.core.jobs.service``): its tally of task states,
its progress events and its deadline.  With several processes on one database the job's
document names its ``owner``; each process writes a heartbeat, and a process whose
heartbeat is older than ``stale_after`` seconds is gone: the first other process to see
that takes its unfinished jobs over (one atomic update on the job's owner) and counts
them from the stored task states on.

``SoleOwner`` (the embedded database, one process) counts every job, as there is no
other process; ``SharedOwners`` does the above.
"""

import datetime
import uuid

from toolbox import clock
from toolbox.store.db import Doc
from toolbox.store.repos.jobs import Jobs
from toolbox.store.repos.processes import ProcessRepo

STALE_AFTER = 15.0  # seconds without a heartbeat: the process is gone
ADOPT_EVERY = 5.0  # seconds between looks for jobs whose owner is gone


class SoleOwner:
    """The only process: every unfinished job is its own."""

    instance: str | None = None

    async def heartbeat(self) -> None:
        """Nobody else to tell."""

    async def leave(self) -> None:
        """Nobody else to hand the jobs to."""

    async def orphans(self, jobs: Jobs) -> list[Doc]:
        """Every unfinished job (read once, at start-up)."""
        return await jobs.unfinished()

    async def adopt(self, jobs: Jobs, doc: Doc) -> Doc | None:
        return doc

    def due(self, now: datetime.datetime) -> bool:
        """No other process can leave jobs behind."""
        return False


class SharedOwners:
    """Heartbeats in ``processes``; jobs of a process gone quiet are taken over."""

    def __init__(self, processes: ProcessRepo, stale_after: float = STALE_AFTER) -> None:
        self.processes = processes
        self.stale_after = stale_after
        self.instance = uuid.uuid4().hex
        self._looked_at: datetime.datetime | None = None

    async def heartbeat(self) -> None:
        await self.processes.beat(self.instance, clock.utcnow())

    async def leave(self) -> None:
        """A clean stop: drop the heartbeat, so another process takes the jobs over at once."""
        await self.processes.leave(self.instance)

    def due(self, now: datetime.datetime) -> bool:
        """Whether it is time to look for orphaned jobs again."""
        if self._looked_at is not None and (now - self._looked_at).total_seconds() < ADOPT_EVERY:
            return False
        self._looked_at = now
        return True

    async def orphans(self, jobs: Jobs) -> list[Doc]:
        """Unfinished jobs whose owner has no fresh heartbeat (or that have no owner)."""
        cutoff = clock.utcnow() - datetime.timedelta(seconds=self.stale_after)
        alive = await self.processes.alive_since(cutoff)
        alive.add(self.instance)
        return await jobs.unfinished(not_owned_by=sorted(alive))

    async def adopt(self, jobs: Jobs, doc: Doc) -> Doc | None:
        """Take ``doc`` over unless another process was quicker; the current document, or None."""
        return await jobs.adopt(doc["_id"], doc.get("owner"), self.instance)


# The two kinds, as the job service is handed one (``toolbox.server.variants``).
Owners = SoleOwner | SharedOwners
