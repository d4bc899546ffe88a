"""Rate limits: the limiters as plain objects (with a fake clock), then over HTTP:
jobs per user per minute and unfinished tasks per target, with Retry-After and recovery."""

import asyncio

import pytest

from tests.role_tokens import OPERATOR, OPERATOR_2
from toolbox.errors import RateLimited, ValidationError
from toolbox.core.limits.targets import MAX_TARGET_RETRY_AFTER, TargetLimiter
from toolbox.people.throttle import SlidingWindow


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


def test_sliding_window_counts_hits_in_the_last_window_per_key():
    clock = FakeClock()
    window = SlidingWindow(3, 60.0, clock)
    for step in (0, 10, 20):
        clock.now = 1000.0 + step
        window.check("olga")
        window.hit("olga")
    clock.now = 1030.0
    assert window.retry_after("olga") == 30.0  # the hit at 1000 leaves the window at 1060
    with pytest.raises(RateLimited) as info:
        window.check("olga", "jobs")
    assert info.value.retry_after == 30 and info.value.headers == {"Retry-After": "30"}
    assert "at most 3 per 60 seconds" in info.value.message
    assert window.retry_after("oscar") == 0.0
    clock.now = 1059.5
    assert window.retry_after("olga") == 0.5
    clock.now = 1060.0
    assert window.retry_after("olga") == 0.0
    window.hit("olga")
    assert window.retry_after("olga") == 10.0  # now the hit at 1010 is the one to wait for
    clock.now = 2000.0
    assert window.retry_after("olga") == 0.0 and "olga" not in window.hits


def test_target_limiter_reserves_tracks_and_frees_slots():
    clock = FakeClock()
    limiter = TargetLimiter(3, clock)
    limiter.reserve("example.com", 2)
    assert limiter.count("example.com") == 2
    with pytest.raises(RateLimited) as info:
        limiter.reserve("example.com", 2)
    assert info.value.retry_after == 1  # held by a reservation being turned into tasks
    limiter.track(1, "example.com", 30.0)
    limiter.track(2, "example.com", 90.0)
    limiter.release("example.com", 2)
    assert limiter.count("example.com") == 2 and limiter.reserved == {}
    limiter.reserve("example.com", 1)
    limiter.track(3, "example.com", 10.0)
    limiter.release("example.com", 1)
    clock.advance(4)
    assert limiter.retry_after("example.com", 1) == 6.0  # task 3 surely ends by then
    assert limiter.retry_after("example.com", 2) == 26.0  # and task 1 by then
    assert limiter.retry_after("example.com", 3) == MAX_TARGET_RETRY_AFTER  # capped
    assert limiter.retry_after("other.example", 3) == 0.0
    with pytest.raises(ValidationError):
        limiter.reserve("other.example", 4)  # could never run
    limiter.track(3, "example.com", 50.0)  # dispatched: same task, new bound, counted once
    assert limiter.count("example.com") == 3
    limiter.finish(3)
    limiter.finish(3)
    limiter.finish(99)
    assert limiter.count("example.com") == 2 and limiter.target_of(1) == "example.com"
    limiter.reserve("example.com", 1)


def ping(agents, target="93.184.216.34"):
    return {"tool": "ping", "params": {"target": target}, "agents": agents}


@pytest.mark.embedded_only("moves the in-memory window's clock; the shared window (real time) is tested in test_shared_database.py (across two processes) and test_repo_rate_limits.py")
@pytest.mark.gen_test
@pytest.mark.config(jobs_per_minute=2)
@pytest.mark.parametrize("limits_clock", [FakeClock()])
async def test_jobs_per_user_per_minute_answer_429_with_retry_after_until_the_window_passes(
        api, make_agent, app, role_tokens, limits_clock):
    await make_agent("a1")
    clock = limits_clock
    assert (await api("/api/jobs", "POST", token=role_tokens[OPERATOR], json=ping(["a1"]))).code == 201
    clock.advance(15)
    assert (await api("/api/jobs", "POST", token=role_tokens[OPERATOR], json=ping(["a1"]))).code == 201
    clock.advance(5)
    refused = await api("/api/jobs", "POST", token=role_tokens[OPERATOR], json=ping(["a1"]))
    assert refused.code == 429 and refused.headers["Retry-After"] == "40"
    assert "too many jobs" in refused.json["error"]
    assert (await api("/api/jobs", "POST", token=role_tokens[OPERATOR_2], json=ping(["a1"]))).code == 201
    assert len((await api("/api/jobs")).json["items"]) == 3
    clock.advance(39.5)
    again = await api("/api/jobs", "POST", token=role_tokens[OPERATOR], json=ping(["a1"]))
    assert again.code == 429 and again.headers["Retry-After"] == "1"
    clock.advance(0.5)
    assert (await api("/api/jobs", "POST", token=role_tokens[OPERATOR], json=ping(["a1"]))).code == 201
    outcomes = [e["outcome"] for e in await app.toolbox.audit.list(action="job.create", actor="olga")]
    assert outcomes == ["ok", "refused", "refused", "ok", "ok"]


@pytest.mark.embedded_only("moves the in-memory target limiter's clock; the shared one counts stored tasks in the database (toolbox/core/limits/shared.py) with no clock to move")
@pytest.mark.gen_test
@pytest.mark.config(target_concurrency=3, delivery_timeout=5, task_timeout=10, sweep_interval=0.1)
@pytest.mark.parametrize("limits_clock", [FakeClock()])
async def test_unfinished_tasks_per_target_refuse_whole_jobs_until_tasks_finish(api, fake_agent, app, limits_clock):
    agents = [await fake_agent(f"a{i}") for i in range(4)]
    clock = limits_clock
    first = await api("/api/jobs", "POST", json=ping(["a0", "a1"]))
    assert first.code == 201
    refused = await api("/api/jobs", "POST", json=ping(["a2", "a3"]))
    assert refused.code == 429 and "93.184.216.34" in refused.json["error"]
    assert refused.headers["Retry-After"] == "16"  # a queued task surely ends in 5 + 10 + 0.1 s
    assert len((await api("/api/tasks")).json["items"]) == 2  # nothing of the refused job was queued
    other = await api("/api/jobs", "POST", json=ping(["a2", "a3"], target="example.com"))
    assert other.code == 201
    assert (await api("/api/jobs", "POST", json=ping(["a0", "a1", "a2", "a3"]))).code == 400
    task = await agents[0].fetch()  # dispatched: surely ends within 10.1 s from now
    clock.advance(3)
    assert (await api("/api/jobs", "POST", json=ping(["a2", "a3"]))).headers["Retry-After"] == "8"
    await agents[0].post(task["task_id"], "done")
    accepted = await api("/api/jobs", "POST", json=ping(["a2", "a3"]))
    assert accepted.code == 201 and app.toolbox.jobs.targets.count("93.184.216.34") == 3
    await api(f"/api/jobs/{accepted.json['job_id']}/cancel", "POST")
    assert app.toolbox.jobs.targets.count("93.184.216.34") == 1


@pytest.mark.embedded_only("the in-memory reservation; the shared target limit counts stored tasks and two processes can overshoot by one job (see toolbox/core/limits/shared.py)")
@pytest.mark.gen_test
@pytest.mark.config(target_concurrency=2)
async def test_concurrent_jobs_cannot_both_take_the_last_slots(api, make_agent, app, monkeypatch):
    for name in ("a1", "a2", "a3", "a4"):
        await make_agent(name)
    jobs, next_id = app.toolbox.jobs, app.toolbox.jobs.next_id

    async def slow_next_id():  # a real database answers later: the requests interleave
        await asyncio.sleep(0.05)
        return await next_id()

    monkeypatch.setattr(jobs, "next_id", slow_next_id)
    replies = await asyncio.gather(api("/api/jobs", "POST", json=ping(["a1", "a2"])),
                                   api("/api/jobs", "POST", json=ping(["a3", "a4"])))
    assert sorted(reply.code for reply in replies) == [201, 429]
    assert len((await api("/api/tasks")).json["items"]) == 2
