"""Series: a round's finished tasks become points; 30 days of points roll up and are pruned."""

import datetime

import pytest

from tests.jobs_helpers import PING_OUTPUT, wait_for
from tests.schedules_helpers import PING, START, WallClock
from toolbox.watch.points import point_of

DAYS = 30
PER_HOUR = 4  # a round every 15 minutes


def ping_task(agent, task_id, avg, loss=0.0, outcome="ok"):
    parsed = {"kind": "ping", "loss_pct": loss, "rtt_min_ms": avg - 1, "rtt_avg_ms": avg, "rtt_max_ms": avg + 2,
              "rtt_mdev_ms": 0.5}
    return {"agent": agent, "task_id": task_id, "job_id": None, "tool": "ping", "state": "done",
            "outcome": outcome, "parsed": parsed}


async def thirty_days(app, sid, agents=("p-1", "p-2")):
    """Points for every round of 30 days, through the recorder's one write path."""
    task_id = 0
    for step in range(DAYS * 24 * PER_HOUR):
        at = START + datetime.timedelta(minutes=15 * step)
        for n, agent in enumerate(agents):
            task_id += 1
            avg = 10.0 + n * 10 + step % PER_HOUR  # 10, 11, 12, 13 each hour (20.. for the second)
            failed = step % 96 == 95  # the last round of each day fails
            await app.toolbox.series.record(point_of(
                ping_task(agent, task_id, avg, loss=100.0 if failed else 0.0,
                          outcome="failed" if failed else "ok"), sid, at))


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("watch_clock", [WallClock()])
@pytest.mark.config(poll_timeout=0.3)
async def test_a_finished_task_of_a_round_becomes_a_point_with_the_tools_numbers(api, app, fake_agent, watch_clock):
    watch_clock.set(START)
    agent = await fake_agent("p-1")
    sid = (await api("/api/schedules", "POST", json=dict(PING, agents=["p-1"], interval=60))).json["schedule_id"]
    points = app.toolbox.series.points

    async def the_point():
        return await points.read_range(sid, START, START + datetime.timedelta(hours=1))

    task = None
    for _ in range(20):
        task = await agent.fetch()
        if task:
            break
    assert task is not None
    await agent.post(task["task_id"], PING_OUTPUT)
    assert await wait_for(the_point)
    [point] = await the_point()
    assert point["agent"] == "p-1" and point["at"] == START and point["outcome"] == "ok"
    assert point["value"] == 11.474 and point["loss"] == 0
    assert point["n"] == {"min": 11.387, "avg": 11.474, "max": 11.612, "mdev": 0.088}
    plain = await api("/api/jobs", "POST", json=dict(PING, agents=["p-1"]))  # no schedule's: no point
    task = await agent.fetch()
    await agent.post(task["task_id"], PING_OUTPUT)
    assert await wait_for(lambda: _done(api, plain.json["job_id"]))
    assert len(await points.read_range(sid, START, START + datetime.timedelta(days=1))) == 1
    assert await points.count() == 1


async def _done(api, job_id):
    return (await api(f"/api/jobs/{job_id}")).json["state"] == "done"


@pytest.mark.embedded_only("5,760 points written one by one through the write path: 20-40 s alone on SecantusDB, over pytest-timeout's 120 s in tox -e mongo beside other tests, and it starves their database meanwhile; the same repositories run on SecantusDB in tests/test_repo_series.py and the other series tests")
@pytest.mark.gen_test(timeout=120)
@pytest.mark.parametrize("watch_clock", [WallClock()])
@pytest.mark.config(series_points_days=7, series_rollups_days=20)
async def test_thirty_days_of_points_roll_up_hourly_and_daily_and_are_pruned(api, app, watch_clock):
    watch_clock.set(START)
    sid = (await api("/api/schedules", "POST", json=dict(PING, all=True, interval=900,
                                                         start_at="2030-01-01T00:00:00Z"))).json["schedule_id"]
    await thirty_days(app, sid)
    series = app.toolbox.series
    end = watch_clock.set(START + datetime.timedelta(days=DAYS, minutes=10))
    for _ in range(100):  # bounded: 720 hours at 48 per call
        if not await series.roll():
            break
    rollups = series.rollups
    hours = await rollups.read_range(sid, "hour", START, end, agent="p-1")
    days = await rollups.read_range(sid, "day", START, end, agent="p-1")
    assert len(hours) == DAYS * 24 and len(days) == DAYS - 1  # the day starting at 12:00 is cut at noon
    first = hours[0]
    assert first["count"] == 4 and first["outcomes"] == {"ok": 4} and first["min"] == 10 and first["max"] == 13
    assert first["median"] == 11.5 and first["avg"] == 11.5 and first["loss"] == 0
    a_day = days[0]
    assert a_day["count"] == 96 and a_day["outcomes"] == {"ok": 95, "failed": 1}
    assert a_day["min"] == 10 and a_day["max"] == 13 and a_day["loss"] == round(100 / 96, 3)
    assert a_day["changes"] == 2  # into the failure and out of it
    sixes = await rollups.read_range(sid, "6h", START, end, agent="p-1")
    assert len(sixes) == DAYS * 4 and [r["at"].hour for r in sixes[:4]] == [12, 18, 0, 6]
    assert sixes[0]["count"] == 24 and sixes[0]["min"] == 10 and sixes[0]["max"] == 13 and sixes[0]["avg"] == 11.5
    assert sixes[3]["outcomes"] == {"ok": 23, "failed": 1} and sixes[3]["changes"] == 1  # 11:45 fails
    assert len(await rollups.read_range(sid, "hour", START, end, agent="p-2")) == DAYS * 24
    assert not await series.roll()  # nothing more until another hour ends

    removed = []
    for _ in range(100):  # bounded: in batches of 1,000
        removed.append(await series.prune())
        if not removed[-1]:
            break
    assert max(removed) <= 3000 and len(removed) > 2
    cutoff = end - datetime.timedelta(days=7)
    left = await series.points.read_range(sid, START, end)
    assert left and min(p["at"] for p in left) >= cutoff
    assert len(left) == 2 * (7 * 24 * PER_HOUR - 1)  # 7 days of both agents, from the first round after the cut
    kept = await rollups.read_range(sid, "hour", START, end)
    assert min(r["at"] for r in kept) >= end - datetime.timedelta(days=20)


def test_the_retention_settings_come_from_flags_and_the_environment():
    from toolbox.server.config import Config, ConfigError

    assert Config.load([]).series_points_days == 30 and Config.load([]).series_rollups_days == 400
    config = Config.load(["--series-points-days", "7"], {"TOOLBOX_SERIES_ROLLUPS_DAYS": "0"})
    assert config.series_points_days == 7 and config.series_rollups_days == 0
    with pytest.raises(ConfigError, match="TOOLBOX_SERIES_POINTS_DAYS"):
        Config.load([], {"TOOLBOX_SERIES_POINTS_DAYS": "-1"})


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("watch_clock", [WallClock()])
async def test_six_hours_rolled_across_two_rolls_sum_all_their_points(api, app, watch_clock):
    watch_clock.set(START)
    sid = (await api("/api/schedules", "POST", json=dict(PING, all=True, interval=900,
                                                         start_at="2030-01-01T00:00:00Z"))).json["schedule_id"]
    series = app.toolbox.series
    first = START + datetime.timedelta(hours=1)  # 13:00: the block of 12:00-18:00 begins before the points
    for step in range(7 * PER_HOUR):
        await series.record(point_of(ping_task("p-1", step + 1, 10.0 + step), sid,
                                     first + datetime.timedelta(minutes=15 * step)))
    watch_clock.set(START + datetime.timedelta(hours=4, minutes=10))
    assert await series.roll() == 3  # 13:00 to 16:00: no six hours end yet
    assert not await series.rollups.read_range(sid, "6h", START, START + datetime.timedelta(days=1))
    watch_clock.set(START + datetime.timedelta(hours=8, minutes=10))
    assert await series.roll() == 4  # 16:00 to 20:00: 18:00 ends the block, begun in the roll before
    (six,) = await series.rollups.read_range(sid, "6h", START, START + datetime.timedelta(days=1))
    assert six["at"] == START and six["count"] == 5 * PER_HOUR and six["min"] == 10 and six["max"] == 29
