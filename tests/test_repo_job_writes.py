"""A new job and its tasks are stored whole or not at all (``toolbox.store.repos.job_writes``),
in memory and on a MongoDB-wire server (a transaction) alike (``tests/repo_backends.py``)."""

import datetime

import pytest
from pymongo.errors import OperationFailure

from tests.repo_backends import backend  # noqa: F401  (the fixture)
from toolbox.store.db import DuplicateKeyError
from toolbox.store.repos.tasks import TaskQuery

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def job(job_id):
    return {"_id": job_id, "tool": "ping", "state": "running", "created_at": NOW, "finished_at": None,
            "counts": {"requested": 3}, "owner": None}


def tasks_of(job_id, ids):
    return [{"_id": task_id, "agent": f"a{task_id}", "command": "ping", "state": "queued", "created_at": NOW,
             "job_id": job_id} for task_id in ids]


async def stored(jobs, tasks, job_id):
    return await jobs.get(job_id), sorted(doc["_id"] for doc in await tasks.newest(TaskQuery(job_id=job_id), 100))


@pytest.mark.gen_test
async def test_a_job_is_stored_with_all_its_tasks(backend):  # noqa: F811
    jobs, tasks = await backend.jobs(), await backend.tasks()
    await backend.job_writes(jobs, tasks).store(job(1), tasks_of(1, [10, 11, 12]))
    doc, ids = await stored(jobs, tasks, 1)
    assert doc["_id"] == 1 and ids == [10, 11, 12]


@pytest.mark.gen_test
async def test_a_task_write_that_fails_leaves_neither_the_job_nor_any_of_its_tasks(backend):  # noqa: F811
    jobs, tasks = await backend.jobs(), await backend.tasks()
    await tasks.insert(tasks_of(None, [21]))  # an id the new job's second task collides with
    with pytest.raises(DuplicateKeyError):
        await backend.job_writes(jobs, tasks).store(job(2), tasks_of(2, [20, 21, 22]))
    assert await stored(jobs, tasks, 2) == (None, [])
    assert await tasks.get(20) is None and await tasks.get(22) is None


class FailingOnce:
    """The tasks repository, whose first insert fails as a lost connection in a transaction
    does (``TransientTransactionError``); what a reader outside the transaction saw then."""

    def __init__(self, tasks, jobs, job_id):
        self.tasks, self.jobs, self.job_id = tasks, jobs, job_id
        self.seen_outside = []

    async def insert(self, docs, session=None):
        self.seen_outside.append(await self.jobs.get(self.job_id))  # no session: as another process reads
        if len(self.seen_outside) == 1:
            raise OperationFailure("connection lost", 112, {"errorLabels": ["TransientTransactionError"]})
        await self.tasks.insert(docs, session=session)


@pytest.mark.gen_test
async def test_a_transient_failure_after_the_job_write_is_run_again_and_stores_the_job_once(backend):  # noqa: F811
    if backend.kind == "memory":
        pytest.skip("no transaction in memory: nothing there fails half-way")
    jobs, tasks = await backend.jobs(), await backend.tasks()
    failing = FailingOnce(tasks, jobs, 3)
    await backend.job_writes(jobs, failing).store(job(3), tasks_of(3, [30, 31]))
    assert failing.seen_outside == [None, None]  # the job written in the transaction: unseen until its commit
    doc, ids = await stored(jobs, tasks, 3)
    assert doc["_id"] == 3 and ids == [30, 31]
    assert await backend.db["jobs"].count_documents({"_id": 3}) == 1


@pytest.mark.gen_test
async def test_a_failure_that_lasts_past_the_bound_is_raised_with_nothing_stored(backend):  # noqa: F811
    if backend.kind == "memory":
        pytest.skip("no transaction in memory: nothing there fails half-way")
    jobs, tasks = await backend.jobs(), await backend.tasks()

    class Failing(FailingOnce):
        async def insert(self, docs, session=None):
            self.seen_outside.append(None)
            raise OperationFailure("connection lost", 112, {"errorLabels": ["TransientTransactionError"]})

    failing = Failing(tasks, jobs, 4)
    with pytest.raises(OperationFailure):
        await backend.job_writes(jobs, failing, bound=0.3).store(job(4), tasks_of(4, [40]))
    assert len(failing.seen_outside) >= 2  # tried again within the bound, then given up
    assert await stored(jobs, tasks, 4) == (None, [])


@pytest.mark.gen_test
async def test_one_creation_key_makes_one_job_and_finds_it_again(backend):  # noqa: F811
    jobs, tasks = await backend.jobs(), await backend.tasks()
    writes = backend.job_writes(jobs, tasks)
    await writes.store(dict(job(30), creation_key="k-1"), tasks_of(30, [300, 301]))
    await writes.store(job(31), tasks_of(31, [310]))  # no key: any number of them
    await writes.store(job(32), tasks_of(32, [320]))
    with pytest.raises(DuplicateKeyError):  # a retry's new job under the same key: none of it stored
        await writes.store(dict(job(33), creation_key="k-1"), tasks_of(33, [330, 331]))
    assert await stored(jobs, tasks, 33) == (None, [])
    assert (await jobs.by_creation_key("k-1"))["_id"] == 30
    assert await jobs.by_creation_key("k-2") is None
    await jobs.forget_creation_key(30)  # given up: the key makes a new job
    assert await jobs.by_creation_key("k-1") is None and (await jobs.get(30))["_id"] == 30
    await writes.store(dict(job(34), creation_key="k-1"), tasks_of(34, [340]))
    assert (await jobs.by_creation_key("k-1"))["_id"] == 34
