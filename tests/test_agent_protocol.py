"""The agent protocol, driven the way the deployed Go agent and toolbox-agent drive it."""

import asyncio
import json

import pytest

from tests.jobs_helpers import FakeAgent, events_of, wait_for
from toolbox.core.dispatch.agents import registration_of

EMPTY = {"task_id": 0, "command": ""}


async def queue(api, agents, command="echo hi"):
    reply = await api("/api/tasks", "POST", json={"agents": agents, "command": command})
    assert reply.code == 201, reply.json
    return [item["task_id"] for item in reply.json["items"]]


async def in_state(api, task_id, state):
    return (await api(f"/api/tasks/{task_id}")).json["state"] == state


def task_reply(task_id, command, timeout=600):
    """The fetch reply for a task: ``timeout`` is the seconds its command may run."""
    return {"task_id": task_id, "command": command, "timeout": timeout}


# --- registration ---

@pytest.mark.gen_test
async def test_register_with_right_token_is_200_and_records_the_agent(api, make_agent):
    # The Go agent's own bytes (a hand-built body, its User-Agent), not FakeAgent's JSON.
    name, token = await make_agent("bj-1")
    legacy_body = '{"name":"bj-1",\n\t"token":"' + token + '"}'
    reply = await api("/agent/new", "POST", token=None, body=legacy_body,
                      headers={"Content-Type": "application/json", "User-Agent": "Go-http-client/1.1"})
    assert reply.code == 200 and reply.json == {"status": True}
    agent = (await api("/api/agents/bj-1")).json
    assert agent["address"] == "127.0.0.1"
    assert agent["user_agent"] == "Go-http-client/1.1"
    assert agent["registered_at"] is not None


@pytest.mark.gen_test
async def test_register_refuses_wrong_token_unknown_name_disabled_and_garbage(api, fake_agent):
    agent = await fake_agent("bj-1")
    wrong = await FakeAgent(api, "bj-1", "nope").register()
    assert wrong.code == 401 and wrong.json["status"] is False
    unknown = await FakeAgent(api, "ghost", agent.token).register()
    assert unknown.code == 401
    for body in ["", "{", "[1]", '{"name": 5, "token": "x"}', b"\xff\xfe"]:
        bad = await api("/agent/new", "POST", token=None, body=body)
        assert bad.code == 400, body
    await api("/api/agents/bj-1", "PATCH", json={"disabled": True})
    disabled = await agent.register()
    assert disabled.code == 403


@pytest.mark.gen_test
async def test_after_token_reset_only_the_new_token_registers(api, fake_agent):
    old = await fake_agent("bj-1")
    new = (await api("/api/agents/bj-1/token", "POST")).json["token"]
    assert (await old.register()).code == 401
    assert (await FakeAgent(api, old.name, new).register()).code == 200


# --- fetching ---

@pytest.mark.gen_test
async def test_a_queued_task_is_handed_out_at_once_with_raw_or_bearer_token(api, fake_agent):
    agent = await fake_agent("a1")
    first, second = await queue(api, ["a1"], "ping -c 1 127.0.0.1"), await queue(api, ["a1"], "uptime")
    reply = await agent.fetch_reply()
    assert reply.code == 200 and reply.json == task_reply(first[0], "ping -c 1 127.0.0.1")
    assert first[0] >= 1
    task = (await api(f"/api/tasks/{first[0]}")).json
    assert task["state"] == "dispatched" and task["dispatched_at"]
    await agent.post_reply({"name": agent.name, "task_id": first[0], "result": "ok"})
    reply = await agent.fetch_reply(authorization=f"Bearer {agent.token}")
    assert reply.json == task_reply(second[0], "uptime")


@pytest.mark.gen_test
async def test_a_parked_fetch_wakes_when_a_task_is_created(api, fake_agent, io_loop):
    agent = await fake_agent("a1")
    pending = asyncio.ensure_future(agent.fetch_reply())
    await asyncio.sleep(0.3)
    assert not pending.done()
    started = io_loop.time()
    [task_id] = await queue(api, ["a1"], "hostname")
    reply = await pending
    assert reply.json == task_reply(task_id, "hostname")
    assert io_loop.time() - started < 1.0


@pytest.mark.gen_test
@pytest.mark.config(poll_timeout=0.5)
async def test_a_fetch_with_nothing_to_do_gets_the_empty_reply_after_the_poll_timeout(api, fake_agent, io_loop):
    agent = await fake_agent("a1")
    started = io_loop.time()
    reply = await agent.fetch_reply()
    assert reply.code == 200 and reply.json == EMPTY
    assert 0.4 < io_loop.time() - started < 2.0


@pytest.mark.gen_test
async def test_fetch_refusals(api, fake_agent):
    agent = await fake_agent("a1")
    assert (await api("/agent/task", token=None, headers={"Authorization": agent.token})).code == 400
    assert (await agent.fetch_reply(authorization="wrong")).code == 401
    assert (await FakeAgent(api, "ghost", agent.token).fetch_reply()).code == 401
    assert (await api("/agent/task?agent_name=a1", token=None)).code == 401
    await api("/api/agents/a1", "PATCH", json={"disabled": True})
    assert (await agent.fetch_reply()).code == 403


@pytest.mark.gen_test
@pytest.mark.config(poll_timeout=0.5)
async def test_concurrent_fetches_of_one_agent_get_one_task_at_a_time(api, fake_agent):
    agent = await fake_agent("a1")
    ids = await queue(api, ["a1"]) + await queue(api, ["a1"]) + await queue(api, ["a1"])
    fetches = [asyncio.ensure_future(agent.fetch_reply()) for _ in range(6)]
    replies = await asyncio.gather(*fetches)
    assert all(r.code == 200 for r in replies)
    assert [r.json["task_id"] for r in replies if r.json["task_id"]] == ids[:1]  # the others wait
    await agent.post_reply({"name": agent.name, "task_id": ids[0], "result": "ok"})
    replies = await asyncio.gather(*[agent.fetch_reply() for _ in range(3)])
    assert [r.json["task_id"] for r in replies if r.json["task_id"]] == ids[1:2]


@pytest.mark.gen_test
async def test_tasks_go_out_oldest_first_each_after_the_last_result(api, fake_agent):
    agent = await fake_agent("a1")
    ids = [(await queue(api, ["a1"], f"echo {i}"))[0] for i in range(4)]
    got = []
    for _ in range(4):
        got.append((await agent.fetch_reply()).json["task_id"])
        await agent.post_reply({"name": agent.name, "task_id": got[-1], "result": "ok"})
    assert got == ids


@pytest.mark.gen_test
@pytest.mark.config(poll_timeout=10)
async def test_a_newer_fetch_answers_the_parked_one_with_the_empty_reply(api, fake_agent, app, io_loop):
    agent = await fake_agent("a1")
    older = asyncio.ensure_future(agent.fetch_reply())
    await asyncio.sleep(0.3)
    newer = asyncio.ensure_future(agent.fetch_reply())
    started = io_loop.time()
    assert (await older).json == EMPTY
    assert io_loop.time() - started < 1.0
    assert len(app.toolbox.dispatcher.parked) == 1
    [task_id] = await queue(api, ["a1"])
    assert (await newer).json["task_id"] == task_id


@pytest.mark.gen_test
@pytest.mark.config(poll_timeout=10)
async def test_a_fetch_whose_client_disconnects_is_dropped_and_loses_no_task(api, fake_agent, app, base_url):
    agent = await fake_agent("a1")
    port = int(base_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /agent/task?agent_name=a1 HTTP/1.1\r\nHost: x\r\nAuthorization: {agent.token}\r\n\r\n".encode())
    await writer.drain()
    await wait_for(lambda: app.toolbox.dispatcher.parked)
    assert "a1" in app.toolbox.dispatcher.parked
    writer.close()
    await writer.wait_closed()
    await wait_for(lambda: not app.toolbox.dispatcher.parked)
    assert not app.toolbox.dispatcher.parked
    [task_id] = await queue(api, ["a1"])
    assert (await api(f"/api/tasks/{task_id}")).json["state"] == "queued"
    assert (await agent.fetch_reply()).json["task_id"] == task_id


@pytest.mark.gen_test
async def test_a_task_whose_response_cannot_be_written_is_queued_again(api, fake_agent, app):
    agent = await fake_agent("a1")
    [task_id] = await queue(api, ["a1"])
    registration = registration_of(app.toolbox.agents.cache["a1"])
    doc = await app.toolbox.tasks.claim("a1", registration)  # as if written to a connection that then failed
    assert doc["_id"] == task_id
    await app.toolbox.tasks.unclaim(doc)
    assert (await api(f"/api/tasks/{task_id}")).json["state"] == "queued"
    assert (await agent.fetch_reply()).json["task_id"] == task_id


@pytest.mark.gen_test
@pytest.mark.config(poll_timeout=10)
async def test_token_reset_during_a_park_refuses_the_next_fetch(api, fake_agent):
    agent = await fake_agent("a1")
    parked = asyncio.ensure_future(agent.fetch_reply())
    await asyncio.sleep(0.2)
    new = (await api("/api/agents/a1/token", "POST")).json["token"]
    assert (await agent.fetch_reply()).code == 401
    [task_id] = await queue(api, ["a1"])
    # The parked fetch was authenticated before the reset; it still gets the task or the empty reply.
    first = (await parked).json
    got = first["task_id"] or (await FakeAgent(api, agent.name, new).fetch_reply()).json["task_id"]
    assert got == task_id


# --- results ---

async def delivered_task(api, fake_agent, command="echo hi"):
    agent = await fake_agent("a1")
    [task_id] = await queue(api, ["a1"], command)
    assert (await agent.fetch_reply()).json["task_id"] == task_id
    return agent, task_id


@pytest.mark.gen_test
async def test_a_result_is_stored_with_exit_code_and_duration(api, fake_agent):
    agent, task_id = await delivered_task(api, fake_agent)
    reply = await agent.post_reply({"name": agent.name, "task_id": task_id, "result": "hi\n",
                                    "exit_code": 0, "duration_ms": 12})
    assert reply.code == 200 and reply.json["status"] is True
    task = (await api(f"/api/tasks/{task_id}")).json
    assert task["state"] == "done" and task["result"] == "hi\n"
    assert task["exit_code"] == 0 and task["duration_ms"] == 12 and task["finished_at"]
    assert task["result_recovered"] is False and task["result_truncated"] is False


@pytest.mark.gen_test
async def test_task_id_as_a_numeric_string_is_accepted(api, fake_agent):
    agent, task_id = await delivered_task(api, fake_agent)
    reply = await agent.post_reply({"name": agent.name, "task_id": str(task_id), "result": "x"})
    assert reply.code == 200


@pytest.mark.gen_test
async def test_the_legacy_unescaped_body_is_recovered_and_marked(api, fake_agent):
    agent, task_id = await delivered_task(api, fake_agent, "curl -s http://x")
    output = 'C:\\Users\\ops> {"ok": true, "path": "C:\\temp"} done'
    body = '{"name":"' + agent.name + '",\n\t"task_id":' + str(task_id) + ',\n\t"result":"' + output + '"}'
    with pytest.raises(ValueError):
        json.loads(body)
    reply = await agent.post_reply(body)
    assert reply.code == 200
    task = (await api(f"/api/tasks/{task_id}")).json
    assert task["result"] == output and task["result_recovered"] is True


@pytest.mark.gen_test
async def test_the_same_result_twice_is_ok_and_a_different_one_conflicts(api, fake_agent):
    agent, task_id = await delivered_task(api, fake_agent)
    body = {"name": agent.name, "task_id": task_id, "result": "one"}
    assert (await agent.post_reply(body)).code == 200
    again = await agent.post_reply(body)
    assert again.code == 200 and again.json["duplicate"] is True
    assert (await agent.post_reply(dict(body, result="two"))).code == 409
    assert (await api(f"/api/tasks/{task_id}")).json["result"] == "one"


@pytest.mark.gen_test
async def test_results_for_tasks_not_delivered_to_this_agent_are_404(api, fake_agent):
    agent, task_id = await delivered_task(api, fake_agent)
    other = await fake_agent("a2")
    [queued_id] = await queue(api, ["a2"])
    assert (await other.post_reply({"name": other.name, "task_id": task_id, "result": "x"})).code == 404
    assert (await other.post_reply({"name": other.name, "task_id": queued_id, "result": "x"})).code == 404
    assert (await agent.post_reply({"name": agent.name, "task_id": 999999, "result": "x"})).code == 404
    assert (await agent.post_reply({"name": agent.name, "task_id": task_id, "result": "x"},
                                   authorization="wrong")).code == 401
    assert (await api(f"/api/tasks/{task_id}")).json["state"] == "dispatched"


@pytest.mark.gen_test
@pytest.mark.config(result_max_bytes=2048)
async def test_a_result_over_the_cap_is_stored_truncated(api, fake_agent):
    agent, task_id = await delivered_task(api, fake_agent)
    reply = await agent.post_reply({"name": agent.name, "task_id": task_id, "result": "é" * 5000})
    assert reply.code == 200
    task = (await api(f"/api/tasks/{task_id}")).json
    assert task["result_truncated"] is True and len(task["result"].encode()) <= 2048
    assert task["result"] == "é" * 1024


@pytest.mark.gen_test
@pytest.mark.config(result_max_bytes=2048)
async def test_a_huge_body_is_cut_not_refused(api, fake_agent):
    agent, task_id = await delivered_task(api, fake_agent)
    body = '{"name":"%s","task_id":%d,"result":"%s"}' % (agent.name, task_id, "x" * 3_000_000)
    reply = await agent.post_reply(body)
    assert reply.code == 200
    task = (await api(f"/api/tasks/{task_id}")).json
    assert task["result_truncated"] is True and task["result"] == "x" * 2048
    huge_garbage = await agent.post_reply(b"z" * 3_000_000)
    assert huge_garbage.code == 413


@pytest.mark.gen_test
async def test_malformed_result_reports_get_json_400_and_lose_nothing(api, fake_agent):
    agent, task_id = await delivered_task(api, fake_agent)
    bad_bodies = [b"", b"{", b"[]", b"null", b'"text"', b'{"name": 1, "task_id": 1}',
                  b'{"name": "a1", "task_id": true, "result": "x"}',
                  b'{"name": "a1", "task_id": -3, "result": "x"}',
                  b'{"name": "a1", "task_id": 1e400, "result": "x"}',
                  b'{"name": "a1", "task_id": "abc", "result": "x"}',
                  b'{"name": "a1", "task_id": %d, "result": "x", "exit_code": "zero", "n": 1}' % task_id,
                  b"[" * 100000]
    for body in bad_bodies:
        reply = await agent.post_reply(body)
        assert reply.code == 400, (body[:60], reply.code)
    assert (await api(f"/api/tasks/{task_id}")).json["state"] == "dispatched"
    bad_utf8 = b'{"name":"a1","task_id":%d,"result":"caf\xe9 \xff","extra":1}' % task_id
    reply = await agent.post_reply(bad_utf8)
    assert reply.code == 200
    task = (await api(f"/api/tasks/{task_id}")).json
    assert task["state"] == "done" and task["result"].startswith("caf")


# --- liveness ---

@pytest.mark.gen_test
@pytest.mark.config(offline_after=0.5, poll_timeout=0.3)
async def test_an_agent_that_stops_asking_goes_offline_and_its_task_ends_lost(api, fake_agent, app):
    agent = await fake_agent("a1")
    [task_id] = await queue(api, ["a1"], "sleep 100")
    assert (await agent.fetch_reply()).json["task_id"] == task_id
    await wait_for(lambda: in_state(api, task_id, "lost"), step=0.05)
    task = (await api(f"/api/tasks/{task_id}")).json
    assert (task["state"], task["reason"], task["outcome"]) == ("lost", "agent_offline", "lost")
    assert (await api("/api/agents/a1")).json["online"] is False
    types = [event["type"] for event in await events_of(app, "")]
    assert types.index("agent.offline") < types.index("task.lost")


@pytest.mark.gen_test
@pytest.mark.config(offline_after=0.5, poll_timeout=0.3)
async def test_a_disabled_agent_that_keeps_asking_keeps_its_running_task(api, fake_agent):
    agent = await fake_agent("a1")
    [task_id] = await queue(api, ["a1"], "sleep 2")
    assert (await agent.fetch_reply()).json["task_id"] == task_id
    await api("/api/agents/a1", "PATCH", json={"disabled": True})
    for _ in range(12):  # refused, but alive: longer than the offline window
        assert (await agent.fetch_reply()).code == 403
        await asyncio.sleep(0.1)
    assert (await api(f"/api/tasks/{task_id}")).json["state"] == "dispatched"
    assert (await agent.post_reply({"name": agent.name, "task_id": task_id, "result": ""})).code == 200
    assert (await api("/api/agents/a1")).json["enabled_at"] is None  # never enabled again yet
    enabled = (await api("/api/agents/a1", "PATCH", json={"disabled": False})).json
    assert enabled["enabled_at"] is not None
    assert (await api("/api/agents/a1")).json["enabled_at"] == enabled["enabled_at"]
    same = (await api("/api/agents/a1", "PATCH", json={"disabled": False})).json  # enabled already
    assert same["enabled_at"] == enabled["enabled_at"]
    [next_id] = await queue(api, ["a1"], "echo resumed")
    assert (await agent.fetch_reply()).json["task_id"] == next_id


@pytest.mark.gen_test
@pytest.mark.config(poll_timeout=10)
async def test_a_parked_fetch_of_an_agent_disabled_or_deleted_meanwhile_gets_no_task(api, fake_agent, io_loop):
    agent = await fake_agent("a1")
    parked = asyncio.ensure_future(agent.fetch_reply())
    await asyncio.sleep(0.2)
    await api("/api/agents/a1", "PATCH", json={"disabled": True})
    started = io_loop.time()
    assert (await parked).json == EMPTY and io_loop.time() - started < 2
    await api("/api/agents/a1", "PATCH", json={"disabled": False})
    parked = asyncio.ensure_future(agent.fetch_reply())
    await asyncio.sleep(0.2)
    await api("/api/agents/a1", "DELETE")
    await fake_agent("a1")  # the same name, another machine
    await queue(api, ["a1"], "echo for-the-new-one")
    assert (await parked).json == EMPTY  # the old machine's fetch gets nothing of the new agent


@pytest.mark.gen_test
async def test_a_reused_name_cannot_answer_the_old_registrations_task(api, fake_agent):
    agent = await fake_agent("x")
    [task_id] = await queue(api, ["x"], "hostname")
    assert (await agent.fetch_reply()).json["task_id"] == task_id
    deleted = await api("/api/agents/x", "DELETE")
    assert deleted.code == 200
    ended = (await api(f"/api/tasks/{task_id}")).json
    assert (ended["state"], ended["reason"]) == ("lost", "agent_deleted")
    new = await fake_agent("x")
    reply = await new.post_reply({"name": "x", "task_id": task_id, "result": "forged"})
    assert reply.code == 404
    assert (await api(f"/api/tasks/{task_id}")).json["result"] is None


@pytest.mark.gen_test
async def test_an_agent_that_registers_again_ends_the_task_its_old_process_held(api, fake_agent):
    agent = await fake_agent("a1")
    first, second = await queue(api, ["a1"], "sleep 100"), await queue(api, ["a1"], "echo next")
    assert (await agent.fetch_reply()).json["task_id"] == first[0]
    assert (await agent.register()).code == 200
    task = (await api(f"/api/tasks/{first[0]}")).json
    assert (task["state"], task["reason"], task["summary"]) == ("lost", "agent_restarted",
                                                                 "agent restarted before answering")
    assert (await agent.fetch_reply()).json["task_id"] == second[0]


@pytest.mark.gen_test
@pytest.mark.config(task_grace=0.2)
async def test_a_tool_task_past_its_time_bound_ends_lost_with_reason_timeout(api, fake_agent, app):
    agent = await fake_agent("a1")
    job = (await api("/api/jobs", "POST", json={"tool": "curl", "agents": ["a1"],
                                                "params": {"url": "http://127.0.0.1:9/", "timeout": 1}})).json
    [task] = job["tasks"]
    assert task["time_limit"] == 1
    reply = (await agent.fetch_reply()).json
    assert reply["task_id"] == task["task_id"] and reply["timeout"] == 1
    await wait_for(lambda: in_state(api, task["task_id"], "lost"), step=0.05)
    lost = (await api(f"/api/tasks/{task['task_id']}")).json
    assert (lost["state"], lost["reason"], lost["summary"]) == ("lost", "timeout", "no result within 1.2 s")
