"""Jobs over time: counts and state driven by agents through the real agent protocol,
parsed results, events, the deadline, cancel, listing, and a restart."""

import asyncio
import dataclasses
import datetime

import pytest

from tests.jobs_helpers import PING_OUTPUT, events_of, settle, wait_for
from toolbox.server.wiring import Services

PUBLIC_IP = "93.184.216.34"
ZERO = {"queued": 0, "dispatched": 0, "done": 0, "timed_out": 0, "canceled": 0, "ok": 0, "partial": 0,
        "failed": 0, "lost": 0, "delivery_timeout": 0, "offline": 0, "unfinished": 0}


def iso(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def counts(requested, **changes):
    return dict(ZERO, requested=requested, **changes)


async def start_job(api, agents, tool="ping", params=None):
    reply = await api("/api/jobs", "POST", json={"tool": tool, "params": params or {"target": PUBLIC_IP},
                                                  "agents": agents})
    assert reply.code == 201, reply.json
    return reply.json


async def agents(fake_agent, *names):
    return [await fake_agent(name) for name in names]


@pytest.mark.gen_test
@pytest.mark.config(progress_interval=0)  # one job.progress per change, to check each
async def test_counts_follow_the_agents_and_the_job_ends_when_all_tasks_finish(api, fake_agent, app):
    a1, a2 = await agents(fake_agent, "a1", "a2")
    job = await start_job(api, ["a1", "a2"])
    job_id = job["job_id"]

    async def current():
        return (await api(f"/api/jobs/{job_id}")).json

    task1 = await a1.fetch()
    assert (await current())["counts"] == counts(2, queued=1, dispatched=1)
    await a1.post(task1["task_id"], PING_OUTPUT)
    now = await current()
    assert now["counts"] == counts(2, queued=1, done=1, ok=1) and now["state"] == "running"
    assert now["summary"] == "1 ok · 1 waiting" and now["outcome"] is None
    stored = await app.toolbox.jobs.repo.get(job_id)
    assert stored["counts"] == counts(2, queued=1, done=1, ok=1)  # persisted on each finished task
    task2 = await a2.fetch()
    await a2.post(task2["task_id"], "ping: unknown host nowhere.invalid", exit_code=2)
    final = await current()
    assert final["state"] == "done" and final["counts"] == counts(2, done=2, ok=1, failed=1)
    assert final["finished_at"] and final["summary"] == "1 ok · 1 failed" and final["outcome"] == "partial"
    [t1, t2] = final["tasks"]
    assert (t1["agent"], t2["agent"]) == ("a1", "a2")
    assert t1["parsed"]["kind"] == "ping" and t1["parsed"]["loss_pct"] == 0
    assert t1["parsed"]["rtt_min_ms"] == 11.387 and t1["parsed"]["rtt_max_ms"] == 11.612
    assert t1["result_preview"] == PING_OUTPUT and t1["result_bytes"] == len(PING_OUTPUT) and t2["exit_code"] == 2
    assert (t1["outcome"], t2["outcome"]) == ("ok", "failed")
    assert app.toolbox.jobs.counting == {}
    stored = await app.toolbox.jobs.repo.get(job_id)
    assert stored["state"] == "done" and stored["counts"] == counts(2, done=2, ok=1, failed=1)
    assert stored["summary"] == "1 ok · 1 failed" and stored["outcome"] == "partial"
    assert (await api(f"/api/tasks/{t1['task_id']}")).json["parsed"] == t1["parsed"]

    types = [(e["type"], e["data"].get("job_id")) for e in (await events_of(app, "job."))]
    assert types[0] == ("job.created", job_id) and types[-1] == ("job.done", job_id)
    assert types.count(("job.progress", job_id)) == 4  # 2 dispatched, 1 done, the end (2nd done)
    created = (await events_of(app, "job.created"))[0]["data"]
    assert "tasks" not in created and created["counts"] == counts(2, queued=2)
    progress = [e["data"] for e in (await events_of(app, "job.progress"))]
    assert progress[0] == {"job_id": job_id, "counts": counts(2, queued=1, dispatched=1), "state": "running",
                           "summary": "1 running · 1 waiting", "outcome": None}
    assert progress[-1] == {"job_id": job_id, "counts": counts(2, done=2, ok=1, failed=1), "state": "done",
                            "summary": "1 ok · 1 failed", "outcome": "partial"}
    assert (await events_of(app, "job.done"))[0]["data"]["counts"] == counts(2, done=2, ok=1, failed=1)
    seqs = [e["seq"] for e in app.toolbox.events.buffer]
    assert seqs == sorted(seqs)
    task_done = next(e["seq"] for e in app.toolbox.events.buffer if e["type"] == "task.done")
    first_done_progress = next(e["seq"] for e in (await events_of(app, "job.progress"))
                               if e["data"]["counts"]["done"] == 1)
    assert task_done < first_done_progress


@pytest.mark.gen_test(timeout=30)
@pytest.mark.config(progress_interval=1.0)
async def test_job_progress_comes_at_most_once_per_interval_with_the_counts_of_its_moment(api, fake_agent, app):
    names = ["a1", "a2", "a3", "a4"]
    fleet = await agents(fake_agent, *names)
    job_id = (await start_job(api, names))["job_id"]

    async def progress():
        return [event["data"] for event in await events_of(app, "job.progress")]

    def announced():
        return sum(event["type"] == "job.progress" for event in app.toolbox.events.buffer)

    first = await fleet[0].fetch()
    assert [p["counts"] for p in await progress()] == [counts(4, queued=3, dispatched=1)]  # the first: at once
    await fleet[0].post(first["task_id"], PING_OUTPUT)
    await fleet[1].fetch()
    await fleet[2].fetch()
    now = counts(4, queued=1, dispatched=2, done=1, ok=1)
    assert len(await progress()) == 1  # three more changes within the interval: not yet announced
    assert (await api(f"/api/jobs/{job_id}")).json["counts"] == now  # the document is current all along
    assert await wait_for(lambda: announced() == 2, timeout=5)
    merged = (await progress())[-1]  # at the interval's end: one event for the three
    assert merged["counts"] == now and merged["state"] == "running"
    await asyncio.sleep(1.2)
    assert len(await progress()) == 2  # nothing changed since: nothing more
    await fleet[3].fetch()
    assert len(await progress()) == 3  # a change after a quiet interval: at once again
    tasks = (await api(f"/api/jobs/{job_id}")).json["tasks"]
    for agent, task in zip(fleet, tasks):
        if task["state"] == "dispatched":
            await agent.post(task["task_id"], PING_OUTPUT)
    events = [(e["type"], e["data"]) for e in await events_of(app, "job.")]
    assert events[-1][0] == "job.done" and events[-2][0] == "job.progress"  # the end: at once, then job.done
    assert events[-2][1]["counts"] == counts(4, done=4, ok=4) and events[-2][1]["state"] == "done"
    done = [data["counts"]["done"] for kind, data in events if kind == "job.progress"]
    assert 4 <= len(done) <= 5 and done == sorted(done)  # 8 changes: one event each without merging
    await asyncio.sleep(1.2)
    assert announced() == len(done)  # what was due at the end was dropped: job.done said it all


@pytest.mark.gen_test(timeout=30)
@pytest.mark.config(job_deadline=3, delivery_timeout=60, poll_timeout=0.3, task_grace=0.2)
async def test_the_deadline_ends_a_job_and_cancels_its_queued_tasks(api, fake_agent, app):
    a1, a2, a3 = await agents(fake_agent, "a1", "a2", "a3")
    job = await start_job(api, ["a1", "a2", "a3"], params={"target": PUBLIC_IP, "count": 1, "timeout": 1})
    limit = job["tasks"][0]["time_limit"]
    task1 = await a1.fetch()
    await a1.post(task1["task_id"], PING_OUTPUT)
    task2 = await a2.fetch()  # delivered, never answered: lost at its bound

    async def ended():
        return (await api(f"/api/jobs/{job['job_id']}")).json["state"] == "done"

    assert await wait_for(ended, timeout=limit + 10)
    final = (await api(f"/api/jobs/{job['job_id']}")).json
    assert final["counts"] == counts(3, done=1, ok=1, timed_out=1, lost=1, canceled=1)
    states = {t["agent"]: (t["state"], t["outcome"], t["summary"]) for t in final["tasks"]}
    assert states["a1"][:2] == ("done", "ok")
    assert states["a2"] == ("lost", "lost", f"no result within {limit + 0.2:g} s")
    assert states["a3"] == ("canceled", "canceled", "not fetched before the job's deadline")
    assert final["tasks"][1]["reason"] == "timeout"
    assert (await events_of(app, "job.done"))[-1]["data"]["summary"] == "1 ok · 1 timed out · 1 canceled"
    await a2.post(task2["task_id"], PING_OUTPUT)  # late: stored on the task, the job stays ended
    await settle()  # a wrong late count would land now
    late = (await api(f"/api/jobs/{job['job_id']}")).json
    assert late["counts"] == final["counts"]
    assert {t["agent"]: t["state"] for t in late["tasks"]}["a2"] == "done"
    assert (await a3.fetch()) is None


@pytest.mark.gen_test
@pytest.mark.config(job_deadline=0.4, task_grace=0.2)
async def test_a_job_never_ends_before_its_tasks_own_bounds(api, fake_agent):
    await agents(fake_agent, "a1")
    job = await start_job(api, ["a1"], params={"target": PUBLIC_IP, "count": 3, "timeout": 2})
    limit = job["tasks"][0]["time_limit"]
    assert limit > 0.4  # longer than the configured deadline: a delivered task still reports
    assert iso(job["deadline"]) - iso(job["created_at"]) >= limit + 0.2


@pytest.mark.gen_test
@pytest.mark.config(delivery_timeout=0.3)
async def test_delivery_timeouts_count_as_timed_out(api, fake_agent, app):
    await agents(fake_agent, "a1")
    job = await start_job(api, ["a1"])

    async def ended():
        return (await api(f"/api/jobs/{job['job_id']}")).json["state"] == "done"

    assert await wait_for(ended)
    final = (await api(f"/api/jobs/{job['job_id']}")).json
    assert final["counts"] == counts(1, timed_out=1, delivery_timeout=1)
    assert final["tasks"][0]["state"] == "delivery_timeout" and final["outcome"] == "failed"
    assert final["summary"] == "1 never fetched"


@pytest.mark.gen_test
@pytest.mark.config(poll_timeout=0.3)
async def test_cancel_stops_delivered_tasks_and_a_field_agents_late_result_is_kept(api, fake_agent, app):
    a1, a2 = await agents(fake_agent, "a1", "a2")
    job = await start_job(api, ["a1", "a2"])
    job_id = job["job_id"]
    task1 = await a1.fetch()
    reply = await api(f"/api/jobs/{job_id}/cancel", "POST")
    assert reply.code == 200 and reply.json["state"] == "canceled"
    now = (await api(f"/api/jobs/{job_id}")).json
    assert now["state"] == "canceled" and now["counts"] == counts(2, canceled=2)
    assert {t["agent"]: t["state"] for t in now["tasks"]} == {"a1": "canceled", "a2": "canceled"}
    stopped = (await api(f"/api/tasks/{task1['task_id']}")).json
    assert stopped["summary"] == "stopped with its job" and stopped["result"] is None
    assert (await events_of(app, "job.done"))[-1]["data"]["state"] == "canceled"
    assert (await a2.fetch()) is None
    assert (await api(f"/api/jobs/{job_id}/cancel", "POST")).code == 409
    # The field agent was not told (it cannot be): its command runs on, so its next task
    # waits for that result (one task in flight), which is stored when it comes.
    later = await start_job(api, ["a1"])
    fetched = await a1.fetch_reply()
    assert fetched.code == 200 and fetched.json == {"task_id": 0, "command": ""}
    assert (await a1.post(task1["task_id"], PING_OUTPUT))["status"] is True
    kept = (await api(f"/api/tasks/{task1['task_id']}")).json
    assert kept["state"] == "canceled" and kept["outcome"] == "canceled" and kept["result"] == PING_OUTPUT
    assert kept["parsed"]["kind"] == "ping" and kept["summary"].startswith("stopped; ")
    assert (await api(f"/api/jobs/{job_id}")).json["counts"] == counts(2, canceled=2)
    assert (await a1.post(task1["task_id"], PING_OUTPUT))["status"] is True  # a repeat is a duplicate
    next_task = (await api(f"/api/jobs/{later['job_id']}")).json["tasks"][0]["task_id"]
    assert (await a1.fetch())["task_id"] == next_task
    assert (await api("/api/jobs?state=canceled")).json["items"][0]["job_id"] == job_id
    assert (await api("/api/jobs/999/cancel", "POST")).code == 404
    assert (await api("/api/jobs/nope")).code == 404
    assert (await api("/api/jobs/999")).code == 404


@pytest.mark.gen_test
async def test_list_jobs_newest_first_with_filters_and_pages(api, fake_agent, app):
    await agents(fake_agent, "a1")
    ids = [(await start_job(api, ["a1"]))["job_id"] for _ in range(3)]
    dig = await start_job(api, ["a1"], tool="dig", params={"target": "example.com"})
    await api(f"/api/jobs/{ids[0]}/cancel", "POST")
    listed = (await api("/api/jobs")).json
    assert [j["job_id"] for j in listed["items"]] == [dig["job_id"]] + ids[::-1]
    assert listed["next_before"] is None and all("tasks" not in j for j in listed["items"])
    assert listed["items"][0]["counts"] == counts(1, queued=1)
    page = (await api("/api/jobs?limit=2")).json
    assert [j["job_id"] for j in page["items"]] == [dig["job_id"], ids[2]] and page["next_before"] == ids[2]
    rest = (await api(f"/api/jobs?limit=2&before={page['next_before']}")).json
    assert [j["job_id"] for j in rest["items"]] == [ids[1], ids[0]]
    assert [j["job_id"] for j in (await api("/api/jobs?tool=dig")).json["items"]] == [dig["job_id"]]
    assert [j["job_id"] for j in (await api("/api/jobs?state=canceled")).json["items"]] == [ids[0]]
    assert len((await api("/api/jobs?user=admin-token")).json["items"]) == 4
    assert (await api("/api/jobs?user=someone-else")).json["items"] == []
    for query in ("state=bogus", "limit=0", "limit=x", "before=-1"):
        assert (await api(f"/api/jobs?{query}")).code == 400, query


@pytest.mark.gen_test
async def test_a_restarted_server_keeps_counting_live_jobs(api, fake_agent, app, db, config):
    a1, _ = await agents(fake_agent, "a1", "a2")
    job = await start_job(api, ["a1", "a2"])
    await a1.fetch()
    await app.toolbox.stop()  # the server stops; another (or the same, started again) takes over
    restarted = Services(dataclasses.replace(config, target_concurrency=3), db)
    await restarted.start()
    try:
        live = restarted.jobs.counting[job["job_id"]]
        assert live.counts() == counts(2, queued=1, dispatched=1)
        assert await restarted.jobs.targets.unfinished(PUBLIC_IP) == 2
        [queued] = [task_id for task_id, state in live.states.items() if state == "queued"]
        await restarted.tasks.cancel(queued)
        assert live.counts() == counts(2, dispatched=1, canceled=1)
        assert await restarted.jobs.targets.unfinished(PUBLIC_IP) == 1
    finally:
        await restarted.stop()
