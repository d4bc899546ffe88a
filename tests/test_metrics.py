"""``GET /metrics``: this process's figures in Prometheus's format, as a scraper reads them."""

import asyncio

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.jobs_helpers import PING_OUTPUT, events_of, wait_for


def samples(text):
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


@pytest.mark.gen_test
@pytest.mark.config(poll_timeout=0.5)
async def test_metrics_follow_fetches_tasks_and_consoles(api, make_agent, fake_agent, app):
    agent = await fake_agent("m1")
    await make_agent("m2")
    await api("/api/tasks", "POST", json={"agents": ["m1"], "command": "echo one"})
    await api("/api/tasks", "POST", json={"agents": ["m2"], "command": "echo two"})  # never fetched
    task = await agent.fetch()
    await agent.post(task["task_id"], "one", exit_code=0)
    parked = asyncio.ensure_future(agent.fetch())  # parks: nothing more for m1
    await wait_for(lambda: app.toolbox.dispatcher.is_parked("m1"))
    await events_of(app, "task.")
    reply = await api("/metrics", expect_json=False)
    assert reply.code == 200 and reply.headers["Content-Type"].startswith("text/plain")
    figures = samples(reply.body.decode())
    assert figures[("toolbox_parked_fetches", ())] == 1
    assert figures[("toolbox_agents_online", ())] == 1
    assert figures[("toolbox_tasks", (("state", "queued"),))] == 1
    assert figures[("toolbox_tasks", (("state", "dispatched"),))] == 0
    assert figures[("toolbox_tasks_finished_total", (("outcome", "ok"),))] == 1
    assert figures[("toolbox_dispatch_latency_seconds_count", ())] == 1
    assert figures[("toolbox_event_latency_seconds_count", ())] == 1  # task.done events: one
    assert figures[("toolbox_websocket_clients", ())] == 0
    assert figures[("toolbox_websocket_dropped_total", ())] == 0
    info = [key for key in figures if key[0] == "toolbox_process_info"]
    assert len(info) == 1 and dict(info[0][1])["database"] in ("embedded", "mongodb")
    assert (await api("/metrics", token=None)).code == 401  # not public
    assert await parked is None  # the empty reply at the poll timeout


@pytest.mark.gen_test
@pytest.mark.config(poll_timeout=0.3, task_timeout=0.3)
async def test_a_result_after_its_task_ended_does_not_count_its_outcome_again(api, fake_agent, app):
    stopped_agent, lost_agent = await fake_agent("s1"), await fake_agent("l1")
    job = (await api("/api/jobs", "POST", json={"tool": "ping", "params": {"target": "127.0.0.1"},
                                                "agents": ["s1"]})).json
    stopped = await stopped_agent.fetch()
    assert (await api(f"/api/jobs/{job['job_id']}/cancel", "POST")).code == 200  # stopped while it runs
    [lost] = (await api("/api/tasks", "POST", json={"agents": ["l1"], "command": "x"})).json["items"]
    assert (await lost_agent.fetch())["task_id"] == lost["task_id"]
    assert await wait_for(lambda: _state(api, lost["task_id"], "lost"))
    # Both results come after their tasks ended: each is stored, neither counts again.
    assert (await stopped_agent.post(stopped["task_id"], PING_OUTPUT))["status"] is True
    assert (await lost_agent.post(lost["task_id"], "late", exit_code=0))["status"] is True
    assert await wait_for(lambda: _state(api, lost["task_id"], "done"))
    assert (await events_of(app, "task.released"))  # the stopped task's result came
    figures = samples((await api("/metrics", expect_json=False)).body.decode())
    finished = {dict(labels)["outcome"]: value for (name, labels), value in figures.items()
                if name == "toolbox_tasks_finished_total"}
    assert finished == {"canceled": 1, "lost": 1}


async def _state(api, task_id, state):
    return (await api(f"/api/tasks/{task_id}")).json["state"] == state
