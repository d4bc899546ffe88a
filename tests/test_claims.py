"""One task in flight per agent (``toolbox.core.claims``), on whichever database the suite runs.

The generic tests use the suite's ``db`` (embedded, or the MongoDB-wire server named by
``TOOLBOX_TEST_MONGODB_URI``, where the unique partial index keeps the rule); the last
ones look inside the embedded variant, which claims by id from its own candidates.
"""

import asyncio

import pytest

from toolbox.core.claims import LocalClaims, SharedClaims
from toolbox.server.config import Config
from toolbox.store.db import Database, open_database
from toolbox.errors import NotFound
from toolbox.core.events import EventHub
from toolbox.core.tasks import TaskService
from toolbox.server.variants import parts_for


def service(db):
    config = Config(id_block=5)
    return TaskService(db, EventHub(), config.task_times(), parts_for(config, db).claims, id_block=config.id_block,
                       history_limit=config.effective_history_limit)


async def started(db):
    tasks = service(db)
    await tasks.start()
    return tasks


@pytest.mark.gen_test
async def test_an_agent_gets_its_next_task_only_when_the_last_one_ended(db):
    tasks = await started(db)
    first, second, third = [(await tasks.create(["a1"], f"echo {i}"))[0] for i in range(3)]
    claimed = await tasks.claim("a1", "r1")
    assert claimed["_id"] == first["_id"] and claimed["registration"] == "r1"
    assert await tasks.claim("a1", "r1") is None  # first still runs
    assert await tasks.complete("a1", "r1", first["_id"], "0") == "stored"
    assert (await tasks.claim("a1", "r1"))["_id"] == second["_id"]
    await tasks.end_in_flight("a1", "agent_offline")
    assert (await tasks.claim("a1", "r1"))["_id"] == third["_id"]


@pytest.mark.gen_test
async def test_concurrent_claims_give_each_agent_one_task(db):
    tasks = await started(db)
    for _ in range(4):
        await tasks.create(["a1", "a2"], "x")
    claims = await asyncio.gather(*[tasks.claim(("a1", "a2")[i % 2], "r") for i in range(20)])
    claimed = sorted(doc["agent"] for doc in claims if doc is not None)
    assert claimed == ["a1", "a2"]
    assert await tasks.unfinished.count_documents({"state": "dispatched"}) == 2


@pytest.mark.gen_test
async def test_a_task_put_back_frees_its_agent_and_goes_out_again(db):
    tasks = await started(db)
    [doc] = await tasks.create(["a1"], "x")
    claimed = await tasks.claim("a1", "r1")
    await tasks.unclaim(claimed)
    again = await tasks.claim("a1", "r2")
    assert again["_id"] == doc["_id"] and again["registration"] == "r2"


@pytest.mark.gen_test
async def test_a_result_is_taken_only_from_the_registration_it_was_delivered_to(db):
    tasks = await started(db)
    [doc] = await tasks.create(["a1"], "x")
    await tasks.claim("a1", "old-machine")
    with pytest.raises(NotFound):
        await tasks.complete("a1", "new-machine", doc["_id"], "forged")
    assert await tasks.complete("a1", "old-machine", doc["_id"], "real") == "stored"


@pytest.mark.gen_test
async def test_two_services_on_one_database_keep_the_rule_together(db):
    first, second = await started(db), await started(db)
    await first.create(["a1"], "x")
    await second.create(["a1"], "y")
    assert (await first.claim("a1", "r"))["command"] == "x"
    assert await second.claim("a1", "r") is None


def test_the_strategy_follows_the_database(db):
    expected = LocalClaims if db.embedded else SharedClaims
    assert isinstance(parts_for(Config(), db).claims, expected)


# --- inside the embedded variant ---


class CountingLive:
    """Wraps the ``tasks`` collection, counting claims (find_one_and_update calls)."""

    def __init__(self, collection):
        self.collection, self.claims = collection, 0

    def __getattr__(self, name):
        return getattr(self.collection, name)

    async def find_one_and_update(self, *args, **kwargs):
        self.claims += 1
        return await self.collection.find_one_and_update(*args, **kwargs)


class CountingDatabase(Database):
    """The database, with its ``tasks`` collection wrapped in ``CountingLive``."""

    def __init__(self, database):
        super().__init__(database.client, database.name, database.embedded)
        self.tasks = CountingLive(database["tasks"])

    def __getitem__(self, collection):
        return self.tasks if collection == "tasks" else super().__getitem__(collection)


@pytest.fixture
def embedded(io_loop):
    database = open_database(None, name="test_claims_embedded")
    yield database
    io_loop.run_sync(database.drop)
    database.close()


@pytest.mark.gen_test
async def test_the_embedded_claim_asks_the_database_only_when_it_can_succeed(embedded):
    counting = CountingDatabase(embedded)
    tasks = service(counting)
    assert await tasks.claim("a1", "r") is None and counting.tasks.claims == 0  # nothing queued
    docs = await tasks.create(["a1"], "x") + await tasks.create(["a1"], "y")
    assert (await tasks.claim("a1", "r"))["_id"] == docs[0]["_id"]
    assert await tasks.claim("a1", "r") is None  # in flight: no query
    assert counting.tasks.claims == 1


@pytest.mark.gen_test
async def test_the_embedded_claim_skips_stale_candidates(embedded):
    tasks = service(embedded)
    docs = [(await tasks.create(["a1"], command))[0] for command in ("x", "y", "z")]
    await tasks.cancel(docs[0]["_id"])
    assert (await tasks.claim("a1", "r"))["command"] == "y"
    await tasks.complete("a1", "r", docs[1]["_id"], "done")
    assert (await tasks.claim("a1", "r"))["command"] == "z"
