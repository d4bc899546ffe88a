"""The embedded database's claim hint: fetches of agents with nothing queued skip the scan."""

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
    assert await tasks.claim("a1") is None  # one query finds nothing, and forgets the agent
    assert tasks.live.claims == 2
    assert await tasks.claim("a1") is None and tasks.live.claims == 2


@pytest.mark.gen_test
async def test_a_task_queued_during_an_empty_claim_is_not_forgotten(db):
    tasks = service(db)
    await tasks.create(["a1"], "x")
    await tasks.claim("a1")
    tasks.live.during = lambda: tasks._may_have_queued("a1")  # another create, mid-query
    assert await tasks.claim("a1") is None
    tasks.live.during = None
    claims = tasks.live.claims
    await tasks.claim("a1")
    assert tasks.live.claims == claims + 1  # it asked the database again


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
