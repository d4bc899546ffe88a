"""The agent protocol, driven the way the deployed Go agent and toolbox-agent drive it."""

import asyncio
import json

import pytest

from tests.jobs_helpers import events_of
from toolbox.core.agents import registration_of

EMPTY = {"task_id": 0, "command": ""}


async def queue(api, agents, command="echo hi"):
    reply = await api("/api/tasks", "POST", json={"agents": agents, "command": command})
    assert reply.code == 201, reply.json
    return [item["task_id"] for item in reply.json["items"]]


def fetch_task(api, name, token, raw=True):
    auth = token if raw else f"Bearer {token}"
    return api(f"/agent/task?agent_name={name}", token=None, headers={"Authorization": auth})


def task_reply(task_id, command, timeout=600):
    """The fetch reply for a task: ``timeout`` is the seconds its command may run."""
    return {"task_id": task_id, "command": command, "timeout": timeout}


def post_result(api, token, body):
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    return api("/agent/task", "POST", token=None, body=body,
               headers={"Authorization": token, "Content-Type": "application/json"})


# --- registration ---

@pytest.mark.gen_test
async def test_register_with_right_token_is_200_and_records_the_agent(api, make_agent):
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
async def test_register_refuses_wrong_token_unknown_name_disabled_and_garbage(api, make_agent):
    name, token = await make_agent("bj-1")
    wrong = await api("/agent/new", "POST", token=None, json={"name": "bj-1", "token": "nope"})
    assert wrong.code == 401 and wrong.json["status"] is False
    unknown = await api("/agent/new", "POST", token=None, json={"name": "ghost", "token": token})
    assert unknown.code == 401
    for body in ["", "{", "[1]", '{"name": 5, "token": "x"}', b"\xff\xfe"]:
        bad = await api("/agent/new", "POST", token=None, body=body)
        assert bad.code == 400, body
    await api("/api/agents/bj-1", "PATCH", json={"disabled": True})
    disabled = await api("/agent/new", "POST", token=None, json={"name": "bj-1", "token": token})
    assert disabled.code == 403


@pytest.mark.gen_test
async def test_after_token_reset_only_the_new_token_registers(api, make_agent):
    name, old = await make_agent("bj-1")
    new = (await api("/api/agents/bj-1/token", "POST")).json["token"]
    assert (await api("/agent/new", "POST", token=None, json={"name": name, "token": old})).code == 401
    assert (await api("/agent/new", "POST", token=None, json={"name": name, "token": new})).code == 200


# --- fetching ---

@pytest.mark.gen_test
async def test_a_queued_task_is_handed_out_at_once_with_raw_or_bearer_token(api, make_agent):
    name, token = await make_agent("a1")
    first, second = await queue(api, ["a1"], "ping -c 1 127.0.0.1"), await queue(api, ["a1"], "uptime")
    reply = await fetch_task(api, name, token)
    assert reply.code == 200 and reply.json == task_reply(first[0], "ping -c 1 127.0.0.1")
    assert first[0] >= 1
    task = (await api(f"/api/tasks/{first[0]}")).json
    assert task["state"] == "dispatched" and task["dispatched_at"]
    await post_result(api, token, {"name": name, "task_id": first[0], "result": "ok"})
    reply = await fetch_task(api, name, token, raw=False)
    assert reply.json == task_reply(second[0], "uptime")


@pytest.mark.gen_test
async def test_a_parked_fetch_wakes_when_a_task_is_created(api, make_agent, io_loop):
    name, token = await make_agent("a1")
    pending = asyncio.ensure_future(fetch_task(api, name, token))
    await asyncio.sleep(0.3)
    assert not pending.done()
    started = io_loop.time()
    [task_id] = await queue(api, ["a1"], "hostname")
    reply = await pending
    assert reply.json == task_reply(task_id, "hostname")
    assert io_loop.time() - started < 1.0


@pytest.mark.gen_test
@pytest.mark.config(poll_timeout=0.5)
async def test_a_fetch_with_nothing_to_do_gets_the_empty_reply_after_the_poll_timeout(api, make_agent, io_loop):
    name, token = await make_agent("a1")
    started = io_loop.time()
    reply = await fetch_task(api, name, token)
    assert reply.code == 200 and reply.json == EMPTY
    assert 0.4 < io_loop.time() - started < 2.0


@pytest.mark.gen_test
async def test_fetch_refusals(api, make_agent):
    name, token = await make_agent("a1")
    assert (await api("/agent/task", token=None, headers={"Authorization": token})).code == 400
    assert (await fetch_task(api, name, "wrong")).code == 401
    assert (await fetch_task(api, "ghost", token)).code == 401
    assert (await api("/agent/task?agent_name=a1", token=None)).code == 401
    await api("/api/agents/a1", "PATCH", json={"disabled": True})
    assert (await fetch_task(api, name, token)).code == 403


@pytest.mark.gen_test
@pytest.mark.config(poll_timeout=0.5)
async def test_concurrent_fetches_of_one_agent_get_one_task_at_a_time(api, make_agent):
    name, token = await make_agent("a1")
    ids = await queue(api, ["a1"]) + await queue(api, ["a1"]) + await queue(api, ["a1"])
    fetches = [asyncio.ensure_future(fetch_task(api, name, token)) for _ in range(6)]
    replies = await asyncio.gather(*fetches)
    assert all(r.code == 200 for r in replies)
    assert [r.json["task_id"] for r in replies if r.json["task_id"]] == ids[:1]  # the others wait
    await post_result(api, token, {"name": name, "task_id": ids[0], "result": "ok"})
    replies = await asyncio.gather(*[fetch_task(api, name, token) for _ in range(3)])
    assert [r.json["task_id"] for r in replies if r.json["task_id"]] == ids[1:2]


@pytest.mark.gen_test
async def test_tasks_go_out_oldest_first_each_after_the_last_result(api, make_agent):
    name, token = await make_agent("a1")
    ids = [(await queue(api, ["a1"], f"echo {i}"))[0] for i in range(4)]
    got = []
    for _ in range(4):
        got.append((await fetch_task(api, name, token)).json["task_id"])
        await post_result(api, token, {"name": name, "task_id": got[-1], "result": "ok"})
    assert got == ids


@pytest.mark.gen_test
@pytest.mark.config(poll_timeout=10)
async def test_a_newer_fetch_answers_the_parked_one_with_the_empty_reply(api, make_agent, app, io_loop):
    name, token = await make_agent("a1")
    older = asyncio.ensure_future(fetch_task(api, name, token))
    await asyncio.sleep(0.3)
    newer = asyncio.ensure_future(fetch_task(api, name, token))
    started = io_loop.time()
    assert (await older).json == EMPTY
    assert io_loop.time() - started < 1.0
    assert len(app.toolbox.dispatcher.parked) == 1
    [task_id] = await queue(api, ["a1"])
    assert (await newer).json["task_id"] == task_id


@pytest.mark.gen_test
@pytest.mark.config(poll_timeout=10)
async def test_a_fetch_whose_client_disconnects_is_dropped_and_loses_no_task(api, make_agent, app, base_url):
    name, token = await make_agent("a1")
    port = int(base_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /agent/task?agent_name=a1 HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n\r\n".encode())
    await writer.drain()
    for _ in range(50):
        if app.toolbox.dispatcher.parked:
            break
        await asyncio.sleep(0.02)
    assert "a1" in app.toolbox.dispatcher.parked
    writer.close()
    await writer.wait_closed()
    for _ in range(100):
        if not app.toolbox.dispatcher.parked:
            break
        await asyncio.sleep(0.02)
    assert not app.toolbox.dispatcher.parked
    [task_id] = await queue(api, ["a1"])
    assert (await api(f"/api/tasks/{task_id}")).json["state"] == "queued"
    assert (await fetch_task(api, name, token)).json["task_id"] == task_id


@pytest.mark.gen_test
async def test_a_task_whose_response_cannot_be_written_is_queued_again(api, make_agent, app):
    name, token = await make_agent("a1")
    [task_id] = await queue(api, ["a1"])
    registration = registration_of(app.toolbox.agents.cache["a1"])
    doc = await app.toolbox.tasks.claim("a1", registration)  # as if written to a connection that then failed
    assert doc["_id"] == task_id
    await app.toolbox.tasks.unclaim(doc)
    assert (await api(f"/api/tasks/{task_id}")).json["state"] == "queued"
    assert (await fetch_task(api, name, token)).json["task_id"] == task_id


@pytest.mark.gen_test
@pytest.mark.config(poll_timeout=10)
async def test_token_reset_during_a_park_refuses_the_next_fetch(api, make_agent):
    name, token = await make_agent("a1")
    parked = asyncio.ensure_future(fetch_task(api, name, token))
    await asyncio.sleep(0.2)
    new = (await api("/api/agents/a1/token", "POST")).json["token"]
    assert (await fetch_task(api, name, token)).code == 401
    [task_id] = await queue(api, ["a1"])
    # The parked fetch was authenticated before the reset; it still gets the task or the empty reply.
    first = (await parked).json
    got = first["task_id"] or (await fetch_task(api, name, new)).json["task_id"]
    assert got == task_id


# --- results ---

async def delivered_task(api, make_agent, command="echo hi"):
    name, token = await make_agent("a1")
    [task_id] = await queue(api, ["a1"], command)
    assert (await fetch_task(api, name, token)).json["task_id"] == task_id
    return name, token, task_id


@pytest.mark.gen_test
async def test_a_result_is_stored_with_exit_code_and_duration(api, make_agent):
    name, token, task_id = await delivered_task(api, make_agent)
    reply = await post_result(api, token, {"name": name, "task_id": task_id, "result": "hi\n",
                                           "exit_code": 0, "duration_ms": 12})
    assert reply.code == 200 and reply.json["status"] is True
    task = (await api(f"/api/tasks/{task_id}")).json
    assert task["state"] == "done" and task["result"] == "hi\n"
    assert task["exit_code"] == 0 and task["duration_ms"] == 12 and task["finished_at"]
    assert task["result_recovered"] is False and task["result_truncated"] is False


@pytest.mark.gen_test
async def test_task_id_as_a_numeric_string_is_accepted(api, make_agent):
    name, token, task_id = await delivered_task(api, make_agent)
    reply = await post_result(api, token, {"name": name, "task_id": str(task_id), "result": "x"})
    assert reply.code == 200


@pytest.mark.gen_test
async def test_the_legacy_unescaped_body_is_recovered_and_marked(api, make_agent):
    name, token, task_id = await delivered_task(api, make_agent, "curl -s http://x")
    output = 'C:\\Users\\ops> {"ok": true, "path": "C:\\temp"} done'
    body = '{"name":"' + name + '",\n\t"task_id":' + str(task_id) + ',\n\t"result":"' + output + '"}'
    with pytest.raises(ValueError):
        json.loads(body)
    reply = await post_result(api, token, body)
    assert reply.code == 200
    task = (await api(f"/api/tasks/{task_id}")).json
    assert task["result"] == output and task["result_recovered"] is True


@pytest.mark.gen_test
async def test_the_same_result_twice_is_ok_and_a_different_one_conflicts(api, make_agent):
    name, token, task_id = await delivered_task(api, make_agent)
    body = {"name": name, "task_id": task_id, "result": "one"}
    assert (await post_result(api, token, body)).code == 200
    again = await post_result(api, token, body)
    assert again.code == 200 and again.json["duplicate"] is True
    assert (await post_result(api, token, dict(body, result="two"))).code == 409
    assert (await api(f"/api/tasks/{task_id}")).json["result"] == "one"


@pytest.mark.gen_test
async def test_results_for_tasks_not_delivered_to_this_agent_are_404(api, make_agent):
    name, token, task_id = await delivered_task(api, make_agent)
    other, other_token = await make_agent("a2")
    [queued_id] = await queue(api, ["a2"])
    assert (await post_result(api, other_token, {"name": other, "task_id": task_id, "result": "x"})).code == 404
    assert (await post_result(api, other_token, {"name": other, "task_id": queued_id, "result": "x"})).code == 404
    assert (await post_result(api, token, {"name": name, "task_id": 999999, "result": "x"})).code == 404
    assert (await post_result(api, "wrong", {"name": name, "task_id": task_id, "result": "x"})).code == 401
    assert (await api(f"/api/tasks/{task_id}")).json["state"] == "dispatched"


@pytest.mark.gen_test
@pytest.mark.config(result_max_bytes=2048)
async def test_a_result_over_the_cap_is_stored_truncated(api, make_agent):
    name, token, task_id = await delivered_task(api, make_agent)
    reply = await post_result(api, token, {"name": name, "task_id": task_id, "result": "é" * 5000})
    assert reply.code == 200
    task = (await api(f"/api/tasks/{task_id}")).json
    assert task["result_truncated"] is True and len(task["result"].encode()) <= 2048
    assert task["result"] == "é" * 1024


@pytest.mark.gen_test
@pytest.mark.config(result_max_bytes=2048)
async def test_a_huge_body_is_cut_not_refused(api, make_agent):
    name, token, task_id = await delivered_task(api, make_agent)
    body = '{"name":"%s","task_id":%d,"result":"%s"}' % (name, task_id, "x" * 3_000_000)
    reply = await post_result(api, token, body)
    assert reply.code == 200
    task = (await api(f"/api/tasks/{task_id}")).json
    assert task["result_truncated"] is True and task["result"] == "x" * 2048
    huge_garbage = await post_result(api, token, b"z" * 3_000_000)
    assert huge_garbage.code == 413


@pytest.mark.gen_test
async def test_malformed_result_reports_get_json_400_and_lose_nothing(api, make_agent):
    name, token, task_id = await delivered_task(api, make_agent)
    bad_bodies = [b"", b"{", b"[]", b"null", b'"text"', b'{"name": 1, "task_id": 1}',
                  b'{"name": "a1", "task_id": true, "result": "x"}',
                  b'{"name": "a1", "task_id": -3, "result": "x"}',
                  b'{"name": "a1", "task_id": 1e400, "result": "x"}',
                  b'{"name": "a1", "task_id": "abc", "result": "x"}',
                  b'{"name": "a1", "task_id": %d, "result": "x", "exit_code": "zero", "n": 1}' % task_id,
                  b"[" * 100000]
    for body in bad_bodies:
        reply = await post_result(api, token, body)
        assert reply.code == 400, (body[:60], reply.code)
    assert (await api(f"/api/tasks/{task_id}")).json["state"] == "dispatched"
    bad_utf8 = b'{"name":"a1","task_id":%d,"result":"caf\xe9 \xff","extra":1}' % task_id
    reply = await post_result(api, token, bad_utf8)
    assert reply.code == 200
    task = (await api(f"/api/tasks/{task_id}")).json
    assert task["state"] == "done" and task["result"].startswith("caf")


# --- liveness ---

@pytest.mark.gen_test
@pytest.mark.config(offline_after=0.5, poll_timeout=0.3)
async def test_an_agent_that_stops_asking_goes_offline_and_its_task_ends_lost(api, make_agent, app):
    name, token = await make_agent("a1")
    [task_id] = await queue(api, ["a1"], "sleep 100")
    assert (await fetch_task(api, name, token)).json["task_id"] == task_id
    for _ in range(100):
        if (await api(f"/api/tasks/{task_id}")).json["state"] == "lost":
            break
        await asyncio.sleep(0.05)
    task = (await api(f"/api/tasks/{task_id}")).json
    assert (task["state"], task["reason"], task["outcome"]) == ("lost", "agent_offline", "lost")
    assert (await api("/api/agents/a1")).json["online"] is False
    types = [event["type"] for event in await events_of(app, "")]
    assert types.index("agent.offline") < types.index("task.lost")


@pytest.mark.gen_test
@pytest.mark.config(offline_after=0.5, poll_timeout=0.3)
async def test_a_disabled_agent_that_keeps_asking_keeps_its_running_task(api, make_agent):
    name, token = await make_agent("a1")
    [task_id] = await queue(api, ["a1"], "sleep 2")
    assert (await fetch_task(api, name, token)).json["task_id"] == task_id
    await api("/api/agents/a1", "PATCH", json={"disabled": True})
    for _ in range(12):  # refused, but alive: longer than the offline window
        assert (await fetch_task(api, name, token)).code == 403
        await asyncio.sleep(0.1)
    assert (await api(f"/api/tasks/{task_id}")).json["state"] == "dispatched"
    assert (await post_result(api, token, {"name": name, "task_id": task_id, "result": ""})).code == 200
    await api("/api/agents/a1", "PATCH", json={"disabled": False})
    [next_id] = await queue(api, ["a1"], "echo resumed")
    assert (await fetch_task(api, name, token)).json["task_id"] == next_id


@pytest.mark.gen_test
@pytest.mark.config(poll_timeout=10)
async def test_a_parked_fetch_of_an_agent_disabled_or_deleted_meanwhile_gets_no_task(api, make_agent, io_loop):
    name, token = await make_agent("a1")
    parked = asyncio.ensure_future(fetch_task(api, name, token))
    await asyncio.sleep(0.2)
    await api("/api/agents/a1", "PATCH", json={"disabled": True})
    started = io_loop.time()
    assert (await parked).json == EMPTY and io_loop.time() - started < 2
    await api("/api/agents/a1", "PATCH", json={"disabled": False})
    parked = asyncio.ensure_future(fetch_task(api, name, token))
    await asyncio.sleep(0.2)
    await api("/api/agents/a1", "DELETE")
    _, new_token = await make_agent("a1")  # the same name, another machine
    await queue(api, ["a1"], "echo for-the-new-one")
    assert (await parked).json == EMPTY  # the old machine's fetch gets nothing of the new agent


@pytest.mark.gen_test
async def test_a_reused_name_cannot_answer_the_old_registrations_task(api, make_agent):
    name, old_token = await make_agent("x")
    [task_id] = await queue(api, ["x"], "hostname")
    assert (await fetch_task(api, name, old_token)).json["task_id"] == task_id
    deleted = await api("/api/agents/x", "DELETE")
    assert deleted.code == 200
    ended = (await api(f"/api/tasks/{task_id}")).json
    assert (ended["state"], ended["reason"]) == ("lost", "agent_deleted")
    _, new_token = await make_agent("x")
    reply = await post_result(api, new_token, {"name": "x", "task_id": task_id, "result": "forged"})
    assert reply.code == 404
    assert (await api(f"/api/tasks/{task_id}")).json["result"] is None


@pytest.mark.gen_test
async def test_an_agent_that_registers_again_ends_the_task_its_old_process_held(api, make_agent):
    name, token = await make_agent("a1")
    first, second = await queue(api, ["a1"], "sleep 100"), await queue(api, ["a1"], "echo next")
    assert (await fetch_task(api, name, token)).json["task_id"] == first[0]
    assert (await api("/agent/new", "POST", token=None, json={"name": name, "token": token})).code == 200
    task = (await api(f"/api/tasks/{first[0]}")).json
    assert (task["state"], task["reason"], task["summary"]) == ("lost", "agent_restarted",
                                                                 "agent restarted before answering")
    assert (await fetch_task(api, name, token)).json["task_id"] == second[0]


@pytest.mark.gen_test
@pytest.mark.config(task_grace=0.2)
async def test_a_tool_task_past_its_time_bound_ends_lost_with_reason_timeout(api, make_agent, app):
    name, token = await make_agent("a1")
    job = (await api("/api/jobs", "POST", json={"tool": "curl", "agents": ["a1"],
                                                "params": {"url": "http://127.0.0.1:9/", "timeout": 1}})).json
    [task] = job["tasks"]
    assert task["time_limit"] == 1
    reply = (await fetch_task(api, name, token)).json
    assert reply["task_id"] == task["task_id"] and reply["timeout"] == 1
    for _ in range(100):
        if (await api(f"/api/tasks/{task['task_id']}")).json["state"] == "lost":
            break
        await asyncio.sleep(0.05)
    lost = (await api(f"/api/tasks/{task['task_id']}")).json
    assert (lost["state"], lost["reason"], lost["summary"]) == ("lost", "timeout", "no result within 1.2 s")
