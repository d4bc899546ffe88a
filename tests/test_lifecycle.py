"""Task lifecycle over time: timeouts, history, two server instances on one database."""

import asyncio
import dataclasses

import pytest

from toolbox.handlers import routes
from tests.jobs_helpers import wait_for
from toolbox.server.app import make_app


async def task_state(api, task_id):
    return (await api(f"/api/tasks/{task_id}")).json["state"]


@pytest.mark.gen_test
@pytest.mark.config(delivery_timeout=0.3)
async def test_a_task_never_fetched_ends_as_delivery_timeout(api, make_agent):
    await make_agent("a1")
    [task] = (await api("/api/tasks", "POST", json={"agents": ["a1"], "command": "x"})).json["items"]
    assert await wait_for(lambda: _is(api, task["task_id"], "delivery_timeout"))
    final = (await api(f"/api/tasks/{task['task_id']}")).json
    assert final["finished_at"] and final["dispatched_at"] is None


@pytest.mark.gen_test
@pytest.mark.config(task_timeout=0.3)
async def test_a_delivered_task_without_result_ends_lost_and_a_late_result_is_still_kept(api, fake_agent):
    agent = await fake_agent("a1")
    [task] = (await api("/api/tasks", "POST", json={"agents": ["a1"], "command": "x"})).json["items"]
    task_id = task["task_id"]
    await agent.fetch_reply()
    assert await wait_for(lambda: _is(api, task_id, "lost"))
    await asyncio.sleep(0.3)  # let the sweeper move it to history
    late = await agent.post_reply({"name": agent.name, "task_id": task_id, "result": "late"})
    assert late.code == 200
    final = (await api(f"/api/tasks/{task_id}")).json
    assert final["state"] == "done" and final["result"] == "late"


async def _is(api, task_id, state):
    return await task_state(api, task_id) == state


@pytest.mark.gen_test
@pytest.mark.config(history_limit=5)
async def test_finished_tasks_move_to_history_and_the_oldest_are_pruned(api, make_agent, app):
    await make_agent("a1")
    ids = []
    for i in range(8):
        reply = await api("/api/tasks", "POST", json={"agents": ["a1"], "command": f"echo {i}"})
        ids.append(reply.json["items"][0]["task_id"])
        await api(f"/api/tasks/{ids[-1]}/cancel", "POST")
    await app.toolbox.sweep_once()
    assert await app.toolbox.tasks.count_live() == 0
    kept = [t["task_id"] for t in (await api("/api/tasks?limit=100")).json["items"]]
    assert kept == ids[::-1][:5]
    assert (await api(f"/api/tasks/{ids[0]}")).code == 404


@pytest.mark.gen_test
@pytest.mark.config(sweep_interval=600)  # the test archives by hand; a sweep could do it first
async def test_an_archive_interrupted_half_way_loses_nothing(api, make_agent, app):
    await make_agent("a1")
    [task] = (await api("/api/tasks", "POST", json={"agents": ["a1"], "command": "x"})).json["items"]
    await api(f"/api/tasks/{task['task_id']}/cancel", "POST")
    doc = await app.toolbox.tasks.live.get(task["task_id"])
    await app.toolbox.tasks.history.insert_copies([doc])  # copied, but the delete never ran
    assert (await api("/api/tasks")).json["items"][0]["state"] == "canceled"
    assert await app.toolbox.tasks.archive() == 1
    assert await app.toolbox.tasks.archive() == 0
    assert [t["task_id"] for t in (await api("/api/tasks")).json["items"]] == [task["task_id"]]


@pytest.mark.gen_test(timeout=60)
@pytest.mark.config(sweep_interval=600)
async def test_a_big_archive_moves_in_slices_with_the_server_free_in_between(make_agent, app, monkeypatch):
    await make_agent("a1")
    tasks = app.toolbox.tasks
    docs = await tasks.create(["a1"] * 250, "x")
    for doc in docs:
        await tasks.cancel(doc["_id"])
    turns, seen_at = [0], []
    loop = asyncio.get_running_loop()

    def tick():  # counts turns of the event loop while the archive runs
        turns[0] += 1
        if ticking:
            loop.call_soon(tick)

    insert_copies = tasks.history.insert_copies

    async def counted(batch):
        seen_at.append((turns[0], len(batch)))
        return await insert_copies(batch)

    monkeypatch.setattr(tasks.history, "insert_copies", counted)
    ticking = True
    loop.call_soon(tick)
    try:
        assert await tasks.archive() == 250
    finally:
        ticking = False
    assert [size for _, size in seen_at] == [100, 100, 50]
    assert [turn for turn, _ in seen_at] == sorted({turn for turn, _ in seen_at})  # a turn between slices
    assert await tasks.count_live() == 0
    assert await tasks.history.count() == 250


@pytest.fixture
def second_app(io_loop, config, db, app):
    """Another server instance on the same database, as a second process would be."""
    other = make_app(dataclasses.replace(config, agent_refresh=0.2), db=db, routes=routes())
    io_loop.run_sync(other.toolbox.start)
    yield other
    io_loop.run_sync(other.toolbox.stop)


@pytest.mark.gen_test
@pytest.mark.config(agent_refresh=0.2, poll_timeout=10)
async def test_a_second_instance_dispatches_tasks_created_by_the_first(api, make_agent, second_app, io_loop):
    from tornado.httpclient import AsyncHTTPClient
    from tornado.testing import bind_unused_port
    from tornado.httpserver import HTTPServer

    name, token = await make_agent("a1")  # created through the first instance
    sock, port = bind_unused_port()
    server = HTTPServer(second_app)
    server.add_sockets([sock])
    client = AsyncHTTPClient()
    try:
        fetch = asyncio.ensure_future(client.fetch(
            f"http://127.0.0.1:{port}/agent/task?agent_name=a1", headers={"Authorization": token},
            request_timeout=15))
        await asyncio.sleep(0.3)
        started = io_loop.time()
        [task] = (await api("/api/tasks", "POST", json={"agents": ["a1"], "command": "hostname"})).json["items"]
        reply = await fetch
        import json

        assert json.loads(reply.body) == {"task_id": task["task_id"], "command": "hostname", "timeout": 600}
        assert io_loop.time() - started < 1.5
    finally:
        server.stop()


@pytest.mark.gen_test
async def test_two_instances_never_hand_out_the_same_id_or_task(app, second_app):
    first, second = app.toolbox, second_app.toolbox
    await first.agents.create("a1")
    await second.agents.reload()
    created = []
    for _ in range(12):
        created += await first.tasks.create(["a1"], "x")
        created += await second.tasks.create(["a1"], "y")
    ids = [doc["_id"] for doc in created]
    assert len(set(ids)) == len(ids) == 24 and min(ids) >= 1
    claims = await asyncio.gather(*[(first if i % 2 else second).tasks.claim("a1", "r") for i in range(30)])
    claimed = [doc["_id"] for doc in claims if doc is not None]
    assert len(claimed) == 1  # one task in flight for the agent, whichever instance claims
    for i in range(len(ids) - 1):  # each result frees the agent for the next claim, on either
        done_on, next_on = (first, second) if i % 2 else (second, first)
        assert await done_on.tasks.complete("a1", "r", claimed[-1], "ok") == "stored"
        claimed.append((await next_on.tasks.claim("a1", "r"))["_id"])
    assert sorted(claimed) == sorted(ids)
