"""The embedded database's claim by id: candidates per agent, each checked atomically."""

import asyncio

import pytest

from toolbox.config import Config
from toolbox.db import open_database
from toolbox.events import EventHub
from toolbox.tasks import TaskService


class CountingLive:
    """Wraps the ``tasks`` collection, counting claims (find_one_and_update calls)."""

    def __init__(self, collection, during=None):
        self.collection, self.claims, self.during = collection, 0, during

    def __getattr__(self, name):
        return getattr(self.collection, name)

    async def find_one_and_update(self, *args, **kwargs):
        self.claims += 1
        if self.during is not None:
            self.during()
        return await self.collection.find_one_and_update(*args, **kwargs)


def service(db):
    tasks = TaskService(db, EventHub(), Config(id_block=5))
    tasks.live = CountingLive(tasks.live)
    return tasks


@pytest.fixture
def db(io_loop):
    database = open_database(None, name="test_claim_hint")
    yield database
    io_loop.run_sync(database.drop)
    database.close()


@pytest.mark.gen_test
async def test_claim_skips_the_query_when_nothing_was_queued(db):
    tasks = service(db)
    assert await tasks.claim("a1") is None and tasks.live.claims == 0
    [doc] = await tasks.create(["a1"], "x")
    assert (await tasks.claim("a1"))["_id"] == doc["_id"]
    assert await tasks.claim("a1") is None
    assert tasks.live.claims == 1


@pytest.mark.gen_test
async def test_claims_take_the_oldest_and_skip_stale_candidates(db):
    tasks = service(db)
    docs = await tasks.create(["a1"], "x") + await tasks.create(["a1"], "y") + await tasks.create(["a1"], "z")
    await tasks.cancel(docs[0]["_id"])
    assert (await tasks.claim("a1"))["command"] == "y"
    assert (await tasks.claim("a1"))["command"] == "z"
    assert await tasks.claim("a1") is None


@pytest.mark.gen_test
async def test_concurrent_claims_share_out_every_task_once(db):
    tasks = service(db)
    docs = []
    for _ in range(6):
        docs += await tasks.create(["a1", "a2"], "x")
    claims = await asyncio.gather(*[tasks.claim(("a1", "a2")[i % 2]) for i in range(20)])
    claimed = [doc["_id"] for doc in claims if doc is not None]
    assert sorted(claimed) == sorted(doc["_id"] for doc in docs)


@pytest.mark.gen_test
async def test_unclaim_and_a_second_service_on_the_same_database(db):
    first, second = service(db), service(db)
    [doc] = await first.create(["a1"], "x")
    claimed = await second.claim("a1")  # the hint lives with the database, not the service
    assert claimed["_id"] == doc["_id"]
    await second.unclaim(claimed)
    assert (await first.claim("a1"))["_id"] == doc["_id"]


@pytest.mark.gen_test
async def test_no_hint_on_a_shared_database(db):
    db.local_state = None  # as with MONGODB_URI: other processes may queue tasks
    tasks = service(db)
    assert await tasks.claim("a1") is None and await tasks.claim("a1") is None
    assert tasks.live.claims == 2
