"""The two implementations each repository contract runs on (``tests/test_repo_*.py``):
the embedded one (in memory) and a MongoDB-wire server (SecantusDB, ``mongodb_wire_uri``)."""

import uuid

import pytest

from toolbox.store.db import Database, open_database
from toolbox.store.repos.agents import AgentRepo, MemoryAgents
from toolbox.store.repos.job_writes import PlainJobWrites, TransactionalJobWrites
from toolbox.store.repos.jobs import JobRepo, MemoryJobs
from toolbox.store.repos.series import PointRepo, RollupRepo
from toolbox.store.repos.series_memory import MemoryPoints, MemoryRollups
from toolbox.store.repos.task_history import HistoryRepo, MemoryHistory
from toolbox.store.repos.tasks import TaskRepo
from toolbox.store.repos.tasks_memory import MemoryTasks


class Backend:
    """Makes the repositories of one implementation (``db`` None: the in-memory ones)."""

    def __init__(self, db: Database | None) -> None:
        self.db = db
        self.kind = "memory" if db is None else "wire"

    async def _ready(self, repo):
        await repo.ensure_indexes()
        return repo

    async def tasks(self):
        return await self._ready(MemoryTasks() if self.db is None else TaskRepo(self.db["tasks"]))

    async def history(self):
        return await self._ready(MemoryHistory() if self.db is None else HistoryRepo(self.db["task_history"]))

    async def agents(self):
        return await self._ready(MemoryAgents() if self.db is None else AgentRepo(self.db["agents"]))

    async def jobs(self):
        return await self._ready(MemoryJobs() if self.db is None else JobRepo(self.db["jobs"]))

    def job_writes(self, jobs, tasks, bound=10.0):
        """How a new job is stored with its tasks: as ``toolbox.server.variants`` chooses."""
        return PlainJobWrites(jobs, tasks) if self.db is None else TransactionalJobWrites(self.db, jobs, tasks, bound)

    async def points(self):
        return await self._ready(MemoryPoints() if self.db is None else PointRepo(self.db["series_points"]))

    async def rollups(self):
        return await self._ready(MemoryRollups() if self.db is None else RollupRepo(self.db["series_rollups"]))


@pytest.fixture(params=["memory", "wire"])
def backend(request, io_loop):
    if request.param == "memory":
        yield Backend(None)
        return
    uri = request.getfixturevalue("mongodb_wire_uri")
    database = open_database(uri, name=f"toolbox_repo_{uuid.uuid4().hex[:12]}")
    yield Backend(database)
    io_loop.run_sync(database.drop)
    database.close()
