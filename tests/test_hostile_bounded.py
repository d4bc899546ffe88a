"""Bounded by design: lists carry a result preview and its size, the whole result is a
download away; the size of a list answer no longer grows with the results in it."""

import json

import pytest


async def delivered(api, fake_agent, name="p-1", command="echo hi"):
    agent = await fake_agent(name)
    created = await api("/api/tasks", "POST", json={"agents": [agent.name], "command": command})
    task_id = created.json["items"][0]["task_id"]
    fetched = await agent.fetch_reply()
    assert fetched.json["task_id"] == task_id
    return agent, task_id


def report(agent, task_id, result):
    return agent.post_reply({"name": agent.name, "task_id": task_id, "result": result})


@pytest.mark.gen_test
async def test_lists_carry_a_preview_cut_on_a_character_and_the_whole_size(api, fake_agent):
    agent, task_id = await delivered(api, fake_agent)
    output = "é" * 3000 + "end"  # 6,003 bytes of UTF-8
    assert (await report(agent, task_id, output)).code == 200
    item = (await api("/api/tasks")).json["items"][0]
    assert "result" not in item
    assert item["result_bytes"] == 6003 and item["result_preview"] == "é" * 2048
    whole = (await api(f"/api/tasks/{task_id}")).json
    assert whole["result"] == output


@pytest.mark.gen_test
async def test_the_whole_result_downloads_as_plain_text(api, fake_agent, login_as):
    agent, task_id = await delivered(api, fake_agent)
    output = "line\n" * 5000
    await report(agent, task_id, output)
    viewer = await login_as("viewer")
    reply = await api(f"/api/tasks/{task_id}/result", token=None, headers=viewer.headers, expect_json=False)
    assert reply.code == 200 and reply.body.decode() == output
    assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert f'filename="task-{task_id}.txt"' in reply.headers["Content-Disposition"]
    assert (await api(f"/api/tasks/{task_id}/result", token=None)).code == 401


@pytest.mark.gen_test
async def test_no_result_yet_or_no_task_is_a_json_error(api, make_agent):
    agent, _token = await make_agent("p-2")
    created = await api("/api/tasks", "POST", json={"agents": [agent], "command": "echo hi"})
    task_id = created.json["items"][0]["task_id"]
    assert (await api(f"/api/tasks/{task_id}/result")).code == 409
    assert (await api("/api/tasks/999/result")).code == 404
    assert (await api("/api/tasks/%C2%B2/result")).code == 404


@pytest.mark.gen_test
async def test_job_task_lists_carry_previews(api, fake_agent):
    agent = await fake_agent("p-3")
    job = (await api("/api/jobs", "POST", json={"tool": "ping", "params": {"target": "127.0.0.1"},
                                                 "agents": [agent.name]})).json
    task = (await agent.fetch_reply()).json
    await report(agent, task["task_id"], "x" * 100_000)
    listed = (await api(f"/api/jobs/{job['job_id']}")).json["tasks"][0]
    assert listed["result_bytes"] == 100_000 and len(listed["result_preview"]) == 4096
    assert "result" not in listed


@pytest.mark.gen_test(timeout=60)
@pytest.mark.config(result_max_bytes=1024 * 1024)
async def test_a_list_of_many_big_results_stays_small(api, fake_agent):
    agent = await fake_agent("p-4")
    for _ in range(20):
        created = await api("/api/tasks", "POST", json={"agents": [agent.name], "command": "echo big"})
        task_id = created.json["items"][0]["task_id"]
        await agent.fetch_reply()
        assert (await report(agent, task_id, "y" * (1024 * 1024))).code == 200
    reply = await api("/api/tasks?limit=500")
    assert len(reply.json["items"]) == 20
    assert len(reply.body) < 20 * 8 * 1024, len(reply.body)  # was 20 MiB
    json.dumps(reply.json)


def test_no_parser_takes_quadratic_time_on_long_garbage():
    """A result is parsed on every job read: a leading ``(\\S+)`` scanned from each position
    of one 100 KB token took 90 s and held the event loop (now linear: well under a second)."""
    import time

    from toolbox.tools.parsers import PARSERS, parse_result

    for tool in PARSERS:
        for shape in ("x", "1", ". ", "-", "é", "time=", "  1 "):
            text = shape * (100_000 // len(shape))
            started = time.perf_counter()
            parse_result(tool, text)
            assert time.perf_counter() - started < 5, (tool, shape)
