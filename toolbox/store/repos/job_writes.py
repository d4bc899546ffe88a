"""A new job and its tasks, stored together: the whole job with all its tasks, or nothing.

``JobWrites.store(job, tasks)`` writes a job document and its task documents (built
beforehand, ids included).  Which one the job service is handed is decided once, in
``toolbox.server.variants``:

- ``TransactionalJobWrites`` (a shared MongoDB, which toolBox needs to be a replica set
  for its change streams): both inserts in one multi-document transaction
  (``toolbox.store.transactions``), so a database killed, a connection dropped or a
  timeout in between leaves no job without its tasks and no task without its job; no
  other reader (another process's agent fetch, a job list) sees either before the commit.
  The id counters are advanced outside it (``counters``, before): the counter document is
  every creation's, and in the transaction it would make concurrent creations conflict;
  an id taken by a creation that failed stays unused.
- ``PlainJobWrites`` (the embedded database): the two in-memory inserts one after the
  other; neither fails half-way (each checks its ids first), and a task insert that fails
  takes the job out again.
"""

from typing import Any

from toolbox.store.db import Database, Doc
from toolbox.store.repos.jobs import JobRepo, Jobs
from toolbox.store.repos.tasks import TaskRepo
from toolbox.store.repos.tasks_memory import Tasks
from toolbox.store.transactions import in_transaction


class PlainJobWrites:
    """The job, then its tasks (the embedded database: in this process, nothing half-done)."""

    def __init__(self, jobs: Jobs, tasks: Tasks) -> None:
        self.jobs, self.tasks = jobs, tasks

    async def store(self, job: Doc, tasks: list[Doc]) -> None:
        await self.jobs.insert(job)
        try:
            await self.tasks.insert(tasks)
        except BaseException:
            await self.jobs.delete(job["_id"])
            raise


class TransactionalJobWrites:
    """The job and its tasks in one transaction, retried within ``bound`` seconds."""

    def __init__(self, db: Database, jobs: JobRepo, tasks: TaskRepo, bound: float) -> None:
        self.db, self.jobs, self.tasks, self.bound = db, jobs, tasks, bound

    async def store(self, job: Doc, tasks: list[Doc]) -> None:
        runs = 0

        async def writes(session: Any) -> None:
            nonlocal runs
            runs += 1
            # Run again after a commit whose outcome was lost, then refused as transient:
            # the job there (its id is this creation's alone) means that commit applied.
            if runs > 1 and await self.jobs.get(job["_id"], session=session) is not None:
                return
            await self.jobs.insert(job, session=session)
            await self.tasks.insert(tasks, session=session)

        await in_transaction(self.db, writes, self.bound)


# Either, as the job service is handed one (``toolbox.server.variants``).
JobWrites = PlainJobWrites | TransactionalJobWrites
