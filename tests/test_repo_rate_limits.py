"""The shared rate-limit window's repository (``toolbox.store.repos.rate_limits``) on a
MongoDB-wire server: a key's hits are counted exactly, even when its first hits come side
by side from several requests (the upsert that loses the race must not read as "full")."""

import asyncio
import datetime
import uuid

import pytest

from toolbox.store.db import open_database
from toolbox.store.repos.rate_limits import RateLimitRepo


@pytest.fixture
def repo(io_loop, mongodb_wire_uri):
    database = open_database(mongodb_wire_uri, name=f"toolbox_repo_{uuid.uuid4().hex[:12]}")
    yield RateLimitRepo(database["rate_limits"])
    io_loop.run_sync(database.drop)
    database.close()


def hit(second):
    return datetime.datetime(2026, 12, 7, 12, 0, second, tzinfo=datetime.timezone.utc)


@pytest.mark.gen_test(timeout=60)
async def test_a_new_keys_first_hits_side_by_side_are_all_taken_up_to_the_limit(repo):
    cutoff = hit(0) - datetime.timedelta(minutes=1)
    for attempt in range(5):  # the race is a moment wide: several fresh keys
        key = f"user-{attempt}"
        taken = await asyncio.gather(*(repo.take(key, hit(i + 1), cutoff, 6) for i in range(8)))
        assert sorted(taken) == [False] * 2 + [True] * 6, taken
        assert len(await repo.hits(key)) == 6


@pytest.mark.gen_test(timeout=60)
async def test_hits_before_the_cutoff_make_room_and_a_full_key_refuses(repo):
    cutoff = hit(0)
    assert [await repo.take("k", hit(s), cutoff, 2) for s in (1, 2, 3)] == [True, True, False]
    assert await repo.take("k", hit(4), hit(1), 2)  # the hit at 1 s drops out of the window
    assert [h.second for h in await repo.hits("k")] == [2, 4]
    await repo.give_back("k", (await repo.hits("k"))[0])
    assert [h.second for h in await repo.hits("k")] == [4]
