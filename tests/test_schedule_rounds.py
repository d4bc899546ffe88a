"""Rounds: each due round fired once as an ordinary job, with busy agents, limits, gaps and claims."""

import asyncio
import datetime

import pytest

from tests.jobs_helpers import PING_OUTPUT, wait_for
from tests.schedules_helpers import PING, START, WallClock, iso
from toolbox.people.principals import Principal
from toolbox.watch.rounds import LEASE
from toolbox.watch.timing import phase, task_delay
from toolbox.core.jobs.selection import job_request


async def rounds_of(api, sid, count):
    """The schedule's rounds (oldest first) once there are ``count`` of them."""
    found = []

    async def enough():
        found[:] = (await api(f"/api/schedules/{sid}/rounds")).json["items"][::-1]
        return len(found) >= count

    assert await wait_for(enough, timeout=5), found
    return found


async def answer(agent):
    task = await agent.fetch()
    assert task is not None
    await agent.post(task["task_id"], PING_OUTPUT)
    return task


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("watch_clock", [WallClock()])
@pytest.mark.config(poll_timeout=0.3)
async def test_rounds_are_jobs_tags_resolve_each_round_busy_agents_skip_and_gaps_are_not_replayed(
        api, app, fake_agent, watch_clock):
    watch_clock.set(START)
    first = await fake_agent("r-1", tags=["eu"])
    sid = (await api("/api/schedules", "POST", json=dict(PING, tags=["eu"], interval=60))).json["schedule_id"]
    [one] = await rounds_of(api, sid, 1)
    assert one["state"] == "fired" and one["at"] == iso(START) and one["agents"] == 1 and one["missed"] == 0
    job = (await api(f"/api/jobs/{one['job_id']}")).json
    assert job["schedule_id"] == sid and job["round_at"] == iso(START) and job["agents"] == ["r-1"]
    await answer(first)

    second = await fake_agent("r-2", tags=["eu", "x"])  # given the tag: joins the next round
    watch_clock.advance(60)
    two = (await rounds_of(api, sid, 2))[1]
    assert two["state"] == "fired" and (await api(f"/api/jobs/{two['job_id']}")).json["agents"] == ["r-1", "r-2"]

    watch_clock.advance(60)  # neither has fetched round 2's task: both busy
    three = (await rounds_of(api, sid, 3))[2]
    assert three["state"] == "skipped" and three["busy"] == ["r-1", "r-2"] and three["job_id"] is None
    assert "busy" in three["reason"]
    await answer(first)
    await answer(second)

    watch_clock.advance(600)  # nine rounds with no server: one runs now, the gap recorded
    rounds = await rounds_of(api, sid, 4)
    assert len(rounds) == 4 and rounds[3]["missed"] == 9 and rounds[3]["state"] == "fired"
    assert rounds[3]["at"] == iso(START + datetime.timedelta(seconds=720))
    schedule = {}

    async def counted():  # the round's log entry is written a moment before the schedule's counts
        schedule.update((await api(f"/api/schedules/{sid}")).json)
        return schedule["rounds"].get("missed") == 9

    assert await wait_for(counted, timeout=5), schedule
    assert schedule["next_run"] == iso(START + datetime.timedelta(seconds=780))
    assert schedule["rounds"] == {"fired": 3, "skipped": 1, "missed": 9, "busy": 2}
    assert schedule["last_round"]["job_id"] == rounds[3]["job_id"]

    jobs = (await api(f"/api/jobs?schedule={sid}")).json["items"]
    assert [j["job_id"] for j in jobs] == [rounds[3]["job_id"], two["job_id"], one["job_id"]]
    assert {j["schedule_id"] for j in jobs} == {sid}
    plain = await api("/api/jobs", "POST", json=dict(PING, agents=["r-1"]))
    assert plain.json["schedule_id"] is None
    assert len((await api("/api/jobs")).json["items"]) == 4
    assert (await api("/api/jobs?schedule=abc")).code == 400
    metrics = (await api("/metrics", expect_json=False)).body.decode()
    assert 'toolbox_schedule_rounds_total{state="fired"} 3.0' in metrics
    assert "toolbox_schedule_rounds_missed_total 9.0" in metrics
    assert "toolbox_schedule_agents_busy_total 2.0" in metrics and "toolbox_schedule_rounds_late_total 0.0" in metrics


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("watch_clock", [WallClock()])
async def test_a_round_fired_over_a_second_after_its_due_time_counts_as_late(api, app, fake_agent, watch_clock):
    watch_clock.set(START)
    agent = await fake_agent("r-1")
    sid = (await api("/api/schedules", "POST", json=dict(PING, agents=["r-1"], interval=60))).json["schedule_id"]
    [first] = await rounds_of(api, sid, 1)
    await answer(agent)
    watch_clock.advance(63.5)  # the process was held up: round 2 fires 3.5 s after its due time
    second = (await rounds_of(api, sid, 2))[1]
    assert second["state"] == "fired" and second["late_ms"] == 3500 and second["missed"] == 0
    assert first["late_ms"] == 0
    metrics = (await api("/metrics", expect_json=False)).body.decode()
    assert "toolbox_schedule_rounds_late_total 1.0" in metrics
    assert 'toolbox_schedule_round_lateness_seconds_bucket{le="5.0"} 2.0' in metrics
    assert 'toolbox_schedule_round_lateness_seconds_bucket{le="2.5"} 1.0' in metrics


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("watch_clock", [WallClock()])
@pytest.mark.config(jobs_per_minute=1)
async def test_a_round_the_rate_limit_refuses_is_skipped_with_the_reason(api, app, fake_agent, watch_clock):
    watch_clock.set(START)
    await fake_agent("r-1")
    assert (await api("/api/jobs", "POST", json=dict(PING, agents=["r-1"]))).code == 201  # the owner's one job
    sid = (await api("/api/schedules", "POST", json=dict(PING, agents=["r-1"], interval=60))).json["schedule_id"]
    [refused] = await rounds_of(api, sid, 1)
    assert refused["state"] == "skipped" and "too many jobs" in refused["reason"]
    assert (await api(f"/api/jobs?schedule={sid}")).json["items"] == []
    gone = await api("/api/schedules", "POST", json=dict(PING, agents=["r-gone"], interval=60))
    [missing] = await rounds_of(api, gone.json["schedule_id"], 1)
    assert missing["state"] == "skipped" and "r-gone" in missing["reason"]


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("watch_clock", [WallClock()])
async def test_stop_at_ends_a_schedule_and_start_at_waits(api, app, fake_agent, watch_clock):
    watch_clock.set(START)
    await fake_agent("r-1")
    later = START + datetime.timedelta(hours=1)
    body = dict(PING, agents=["r-1"], interval=60, start_at=iso(later), stop_at=iso(later))
    made = (await api("/api/schedules", "POST", json=dict(body, stop_at=iso(later + datetime.timedelta(seconds=90)))))
    sid = made.json["schedule_id"]
    assert made.json["next_run"] == iso(later)
    await app.toolbox.rounds.tick()
    assert (await api(f"/api/schedules/{sid}/rounds")).json["items"] == []
    watch_clock.set(later)
    await rounds_of(api, sid, 1)
    watch_clock.advance(60)
    await rounds_of(api, sid, 2)
    assert await wait_for(lambda: _next_run(api, sid, None))


async def _next_run(api, sid, expected):
    return (await api(f"/api/schedules/{sid}")).json["next_run"] == expected


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("watch_clock", [WallClock()])
async def test_a_round_claimed_by_a_process_that_died_is_fired_once_by_another(api, app, fake_agent, watch_clock):
    watch_clock.set(START)
    await fake_agent("r-1")
    later = START + datetime.timedelta(hours=1)
    repo = app.toolbox.rounds.schedules
    for made_the_job in (False, True):
        body = dict(PING, agents=["r-1"], interval=3600, start_at=iso(later))
        sid = (await api("/api/schedules", "POST", json=body)).json["schedule_id"]
        doc = await repo.get(sid)
        pending = {"at": doc["next_run"], "claimed_at": START, "by": "dead", "missed": 0}
        assert await repo.claim_due(sid, doc["next_run"], doc["next_run"] + datetime.timedelta(hours=1), pending)
        if made_the_job:  # it died after creating the round's job, before recording the round
            await app.toolbox.jobs.create(Principal("admin-token", "admin"),
                                          job_request("ping", PING["params"], agents=["r-1"]), marks={"schedule_id": sid, "round_at": doc["next_run"]})
        watch_clock.set(later + LEASE + datetime.timedelta(seconds=1))
        [taken] = await rounds_of(api, sid, 1)
        assert taken["state"] == "fired" and taken["at"] == iso(later)
        assert len((await api(f"/api/jobs?schedule={sid}")).json["items"]) == 1
        assert "pending" not in await repo.get(sid)
        watch_clock.set(START)


def _seconds(later, earlier):
    return (datetime.datetime.fromisoformat(later.replace("Z", "+00:00"))
            - datetime.datetime.fromisoformat(earlier.replace("Z", "+00:00"))).total_seconds()


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("watch_clock", [WallClock()])
@pytest.mark.config(poll_timeout=6)
async def test_a_rounds_tasks_are_released_over_the_spread_each_agent_at_its_own_offset(
        api, app, fake_agent, watch_clock):
    watch_clock.set(START)
    agents = [await fake_agent(f"s-{n}") for n in range(4)]
    body = dict(PING, agents=[agent.name for agent in agents], interval=60, spread=0.05)  # over 3 s
    made = (await api("/api/schedules", "POST", json=body)).json
    sid, schedule = made["schedule_id"], await app.toolbox.rounds.schedules.get(made["schedule_id"])
    assert 0 <= _seconds(made["next_run"], iso(START)) < 3  # the schedule's phase, within the spread too
    watch_clock.set(schedule["next_run"])
    delays = {agent.name: task_delay(schedule, agent.name) for agent in agents}
    assert len(set(delays.values())) == 4 and all(0 <= delay < 3 for delay in delays.values())
    [one] = await rounds_of(api, sid, 1)
    job = (await api(f"/api/jobs/{one['job_id']}")).json
    for task in job["tasks"]:  # queued now, each released at its agent's offset
        assert task["state"] == "queued"
        assert abs(_seconds(task["created_at"], job["created_at"]) - delays[task["agent"]]) < 0.002  # from the job's own time

    fetched = await asyncio.gather(*(agent.fetch() for agent in agents))  # all wait for their release
    for agent, task in zip(agents, fetched):
        stored = (await api(f"/api/tasks/{task['task_id']}")).json
        assert stored["agent"] == agent.name and _seconds(stored["dispatched_at"], stored["created_at"]) >= 0
        assert _seconds(stored["dispatched_at"], job["created_at"]) >= delays[agent.name] - 0.01
        await agent.post(task["task_id"], PING_OUTPUT)
    order = [task["agent"] for task in sorted(job["tasks"], key=lambda task: task["created_at"])]
    assert order == sorted(delays, key=delays.get)

    watch_clock.advance(60)  # the next round: each agent at the same offset again
    two = (await rounds_of(api, sid, 2))[1]
    assert two["state"] == "fired" and two["busy"] == []
    again = (await api(f"/api/jobs/{two['job_id']}")).json
    for task in again["tasks"]:
        assert abs(_seconds(task["created_at"], again["created_at"]) - delays[task["agent"]]) < 0.002
    assert again["deadline"] > job["deadline"]


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("watch_clock", [WallClock()])
@pytest.mark.config(poll_timeout=0.3)
async def test_a_new_spread_or_interval_keeps_the_rhythm_and_fires_no_round_at_once(api, app, fake_agent, watch_clock):
    watch_clock.set(START)
    await fake_agent("k-1")
    sid = (await api("/api/schedules", "POST", json=dict(PING, agents=["k-1"], interval=300))).json["schedule_id"]
    [one] = await rounds_of(api, sid, 1)
    assert one["at"] == iso(START)
    watch_clock.advance(30)

    async def patch(body):
        reply = await api(f"/api/schedules/{sid}", "PATCH", json=body)
        assert reply.code == 200, reply.json
        return reply.json["next_run"]

    spread = await patch({"spread": 0.5})  # the rounds move by the new phase, from the last one
    assert spread == iso(START + phase({"_id": sid, "spread": 0.5, "interval": 300}) + datetime.timedelta(seconds=300))
    assert await patch({"stop_at": "2030-01-01T00:00:00Z"}) == spread  # a later end: the same next run
    assert await patch({"enabled": True, "params": {"target": "192.0.2.11"}}) == spread  # no timing changed
    longer = await patch({"interval": 600})  # one new interval after the last round
    assert longer == iso(START + phase({"_id": sid, "spread": 0.5, "interval": 600}) + datetime.timedelta(seconds=600))
    assert len((await api(f"/api/schedules/{sid}/rounds")).json["items"]) == 1
    now = watch_clock.advance(3600)
    assert await patch({"interval": 300, "spread": 0}) == iso(now)  # overdue with the shorter interval: at once
    paused = watch_clock.advance(5)
    assert await patch({"enabled": False}) is None
    assert await patch({"enabled": True}) == iso(paused)  # resumed: a round at once, as a new schedule's
