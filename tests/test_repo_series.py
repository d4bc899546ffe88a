"""The series repositories' contract (points and rollups), on the in-memory implementation
and on a MongoDB-wire server alike (``tests/repo_backends.py``): they cannot drift apart."""

import datetime

import pytest

from tests.repo_backends import backend  # noqa: F401  (the fixture)

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def at(minutes):
    return T0 + datetime.timedelta(minutes=minutes)


def point(minutes, agent="a1", schedule_id=1, value=1.0):
    return {"schedule_id": schedule_id, "agent": agent, "at": at(minutes), "job_id": 7, "task_id": minutes,
            "tool": "ping", "outcome": "ok", "value": value, "loss": 0.0, "n": {"avg": value}, "fp": None}


def rollup(hour, agent="a1", tier="hour", schedule_id=1, count=4):
    return {"schedule_id": schedule_id, "agent": agent, "tier": tier, "at": at(60 * hour), "count": count,
            "outcomes": {"ok": count}, "min": 1.0, "avg": 2.0, "max": 3.0, "p10": 1.0, "median": 2.0, "p90": 3.0,
            "loss": 0.0, "changes": 0}


def minutes_of(docs):
    return [int((doc["at"].replace(tzinfo=T0.tzinfo) - T0).total_seconds() // 60) for doc in docs]


@pytest.mark.gen_test
async def test_points_read_back_by_range_and_agent_in_time_order(backend):  # noqa: F811
    points = await backend.points()
    for minutes, agent in [(0, "a1"), (10, "a2"), (5, "a1"), (20, "a1"), (15, "a2"), (3, "a1")]:  # 3 and 5 late
        await points.add_point(point(minutes, agent))
    await points.add_point(point(1, "a1", schedule_id=2))
    both = await points.read_range(1, at(0), at(20))  # the end is left out
    assert minutes_of(both) == [0, 3, 5, 10, 15] and "_id" not in both[0]
    assert both[0]["n"] == {"avg": 1.0} and both[0]["agent"] == "a1" and both[3]["agent"] == "a2"
    assert minutes_of(await points.read_range(1, at(1), at(60), agent="a1")) == [3, 5, 20]
    assert minutes_of(await points.read_range(1, at(0), at(60), limit=2)) == [0, 3]
    assert await points.read_range(1, at(0), at(60), agent="nobody") == []
    assert minutes_of([{"at": await points.first_at(1)}]) == [0] and await points.first_at(3) is None
    assert await points.agents(1) == ["a1", "a2"] and await points.count() == 7


@pytest.mark.gen_test
async def test_a_point_read_is_a_copy(backend):  # noqa: F811
    points = await backend.points()
    await points.add_point(point(0))
    (read,) = await points.read_range(1, at(0), at(1))
    read["value"] = 99
    assert (await points.read_range(1, at(0), at(1)))[0]["value"] == 1.0


@pytest.mark.gen_test
async def test_points_are_pruned_oldest_first_in_batches_and_deleted_with_their_schedule(backend):  # noqa: F811
    points = await backend.points()
    for minutes in range(10):
        await points.add_point(point(minutes, "a1"))
        await points.add_point(point(minutes, "a2"))
        await points.add_point(point(minutes, "a1", schedule_id=2))
    assert await points.prune_before(at(4), batch=5) == 5
    assert await points.prune_before(at(4), batch=100) == 7  # 12 points before minute 4
    assert await points.prune_before(at(4), batch=100) == 0
    left = await points.read_range(1, at(0), at(60))
    assert min(minutes_of(left)) == 4 and len(left) == 12
    await points.delete_schedule(1)
    assert await points.read_range(1, at(0), at(60)) == [] and await points.agents(1) == []
    assert len(await points.read_range(2, at(0), at(60))) == 6 and await points.count() == 6


@pytest.mark.gen_test
async def test_a_rollup_written_again_replaces_the_one_there(backend):  # noqa: F811
    rollups = await backend.rollups()
    await rollups.put_rollups([rollup(0), rollup(1), rollup(0, agent="a2"), rollup(0, tier="day")])
    await rollups.put_rollups([rollup(1, count=9), rollup(2)])
    await rollups.put_rollups([])
    hours = await rollups.read_range(1, "hour", at(0), at(60 * 24))
    assert minutes_of(hours) == [0, 0, 60, 120] and "_id" not in hours[0]
    assert [r["count"] for r in await rollups.read_range(1, "hour", at(0), at(60 * 24), agent="a1")] == [4, 9, 4]
    assert (await rollups.read_range(1, "hour", at(60), at(120)))[0]["outcomes"] == {"ok": 9}
    assert len(await rollups.read_range(1, "day", at(0), at(60 * 24))) == 1
    assert await rollups.read_range(2, "hour", at(0), at(60 * 24)) == [] and await rollups.count() == 5


@pytest.mark.gen_test
async def test_rollups_are_pruned_in_batches_and_deleted_with_their_schedule(backend):  # noqa: F811
    rollups = await backend.rollups()
    await rollups.put_rollups([rollup(hour, agent) for hour in range(6) for agent in ("a1", "a2")])
    await rollups.put_rollups([rollup(0, schedule_id=2)])
    assert await rollups.prune_before(at(60 * 3), batch=4) == 4
    assert await rollups.prune_before(at(60 * 3), batch=100) == 3
    assert minutes_of(await rollups.read_range(1, "hour", at(0), at(60 * 24), agent="a2")) == [180, 240, 300]
    await rollups.delete_schedule(1)
    assert await rollups.count() == 0


@pytest.mark.gen_test
async def test_a_series_read_gives_each_agents_rollups_of_a_tier_in_time_order(backend):  # noqa: F811
    rollups = await backend.rollups()
    await rollups.put_rollups([rollup(hour, agent) for hour in (5, 0, 3, 1) for agent in ("a2", "a1")])
    await rollups.put_rollups([rollup(0, tier="6h"), rollup(2, schedule_id=2), rollup(12, agent="a3")])
    found = await rollups.read_series(1, "hour", at(60), at(60 * 5))  # from 01:00 to (not with) 05:00
    assert sorted(found) == ["a1", "a2"] and [minutes_of(found[a]) for a in ("a1", "a2")] == [[60, 180], [60, 180]]
    assert "agent" not in found["a1"][0] and "_id" not in found["a1"][0] and found["a1"][0]["count"] == 4
    assert minutes_of((await rollups.read_series(1, "hour", at(0), at(60 * 24), agent="a2"))["a2"]) == [0, 60, 180, 300]
    assert list(await rollups.read_series(1, "6h", at(0), at(60 * 24))) == ["a1"]
    assert await rollups.read_series(1, "day", at(0), at(60 * 24)) == {}
    found["a1"][0]["count"] = 99  # a copy: what is stored stays
    assert (await rollups.read_series(1, "hour", at(60), at(120)))["a1"][0]["count"] == 4
