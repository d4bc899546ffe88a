"""One task in flight per agent, through the task service, on whichever database the suite runs.

The suite's ``db`` is the embedded one (the in-memory tasks repository keeps the rule)
or the MongoDB-wire server named by ``TOOLBOX_TEST_MONGODB_URI`` (the unique partial
index keeps it).  ``tests/test_repo_tasks.py`` checks the repositories' contract itself
on both.
"""

import asyncio

import pytest

from toolbox.server.config import Config
from toolbox.errors import NotFound
from toolbox.core.events.hub import EventHub
from toolbox.core.tasks.service import TaskService
from toolbox.server.variants import parts_for


def service(db):
    config = Config(id_block=5)
    parts = parts_for(config, db)
    return TaskService(parts.tasks, parts.history, parts.counters, EventHub(), config.task_times(),
                       id_block=config.id_block, history_limit=parts.history_limit)


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
    assert await tasks.count_live("dispatched") == 2


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


@pytest.mark.gen_test
async def test_tasks_created_together_take_their_ids_from_one_counter_write_and_ids_stay_unique(db):
    tasks = await started(db)  # id_block 5
    advances = []
    advance = tasks.counters.advance

    async def counted(name, block):
        advances.append(block)
        return await advance(name, block)

    tasks.counters.advance = counted
    [single] = await tasks.create(["a0"], "x")  # a block of 5: 4 left
    many = await tasks.create([f"a{i}" for i in range(1, 13)], "x")  # the 4 left, then one block of 8
    after = await tasks.create(["a13", "a14"], "x")  # a new block of 5
    ids = [single["_id"]] + [doc["_id"] for doc in many + after]
    assert advances == [5, 8, 5]
    assert ids == sorted(ids) and len(set(ids)) == 15
    assert ids[:13] == list(range(ids[0], ids[0] + 13))
    assert await tasks.count_live("queued") == 15
