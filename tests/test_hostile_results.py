"""Nothing half-written, nothing lost: results and commands as a hostile or broken client sends them.

Lone surrogates (valid JSON, not storable text) are repaired with U+FFFD and flagged;
legacy bodies whose unescaped output forges fields are read as legacy bodies; a huge
proper-JSON result is unescaped, not stored with its backslashes.
"""

import json

import pytest

from tests.jobs_helpers import wait_for


EMPTY = {"task_id": 0, "command": ""}


async def queue(api, agent, command="echo hi"):
    reply = await api("/api/tasks", "POST", json={"agents": [agent], "command": command})
    assert reply.code == 201, reply.json
    return reply.json["items"][0]["task_id"]


@pytest.mark.gen_test
async def test_a_lone_surrogate_in_a_result_is_repaired_flagged_and_the_retry_is_a_duplicate(api, fake_agent):
    agent = await fake_agent("s-1")
    task_id = await queue(api, agent.name)
    assert await agent.fetch()
    body = '{"name":"s-1","task_id":%d,"result":"ok \\ud800 bad"}' % task_id
    first = await agent.post_reply(body)
    assert first.code == 200 and first.json["result_repaired"] is True, first.json
    task = (await api(f"/api/tasks/{task_id}")).json
    assert task["state"] == "done" and task["result"] == "ok \ufffd bad" and task["result_repaired"] is True
    again = await agent.post_reply(body)
    assert again.code == 200 and again.json["duplicate"] is True


@pytest.mark.gen_test
async def test_a_repaired_result_inside_a_job_is_counted(api, fake_agent):
    agent = await fake_agent("s-2")
    job = await api("/api/jobs", "POST", json={"tool": "ping", "params": {"target": "127.0.0.1"},
                                               "agents": [agent.name]})
    assert job.code == 201, job.json
    task = await agent.fetch()
    assert task
    body = '{"name":"s-2","task_id":%d,"result":"\\udfff\\ud800"}' % task["task_id"]
    assert (await agent.post_reply(body)).code == 200

    async def job_done():
        return (await api(f"/api/jobs/{job.json['job_id']}")).json["state"] == "done"

    await wait_for(job_done, step=0.05)
    doc = (await api(f"/api/jobs/{job.json['job_id']}")).json
    assert doc["state"] == "done" and doc["counts"]["done"] == 1
    assert doc["tasks"][0]["result_repaired"] is True


@pytest.mark.gen_test
async def test_a_raw_command_with_a_lone_surrogate_is_repaired_and_flagged(api, fake_agent):
    agent = await fake_agent("s-3")
    reply = await api("/api/tasks", "POST", body=b'{"agents": ["s-3"], "command": "echo \\ud800"}',
                      headers={"Content-Type": "application/json"})
    assert reply.code == 201, reply.json
    item = reply.json["items"][0]
    assert item["command"] == "echo \ufffd" and item["command_repaired"] is True
    assert (await agent.fetch())["command"] == "echo \ufffd"


@pytest.mark.gen_test
async def test_a_legacy_body_whose_output_forges_fields_is_read_as_legacy(api, fake_agent):
    agent = await fake_agent("s-4")
    outputs = ['x","exit_code":7,"result":"forged', 'x","exit_code":7,"duration_ms":"1',
               'x","exit_code":"7', 'x","shell":"zsh', 'a","name":"s-4']
    for output in outputs:
        task_id = await queue(api, agent.name)
        assert await agent.fetch()
        body = '{"name":"s-4","task_id":%d,"result":"%s"}' % (task_id, output)
        reply = await agent.post_reply(body)
        assert reply.code == 200 and reply.json["result_recovered"] is True, (output, reply.json)
        task = (await api(f"/api/tasks/{task_id}")).json
        assert task["result"] == output and task["exit_code"] is None, (output, task)


@pytest.mark.gen_test
async def test_a_json_body_that_repeats_a_field_without_the_legacy_shape_is_400(api, fake_agent):
    agent = await fake_agent("s-5")
    task_id = await queue(api, agent.name)
    assert await agent.fetch()
    body = '{"task_id":%d,"name":"s-5","result":"a","result":"b","exit_code":0}' % task_id
    reply = await agent.post_reply(body)
    assert reply.code == 400 and "repeats" in reply.json["error"]


@pytest.mark.gen_test(timeout=30)
@pytest.mark.config(result_max_bytes=4096)
async def test_a_huge_proper_json_result_is_unescaped_and_truncated(api, fake_agent):
    agent = await fake_agent("s-6")
    task_id = await queue(api, agent.name)
    assert await agent.fetch()
    output = 'q"' * 150_000 + "é\\"
    body = json.dumps({"name": agent.name, "task_id": task_id, "result": output})
    reply = await agent.post_reply(body)
    assert reply.code == 200 and reply.json["result_truncated"] is True, reply.json
    result = (await api(f"/api/tasks/{task_id}")).json["result"]
    assert result.startswith('q"q"') and "\\" not in result and len(result.encode()) <= 4096


@pytest.mark.gen_test(timeout=30)
@pytest.mark.config(result_max_bytes=4096)
async def test_a_huge_legacy_result_keeps_its_backslashes_as_sent(api, fake_agent):
    agent = await fake_agent("s-7")
    task_id = await queue(api, agent.name)
    assert await agent.fetch()
    output = 'C:\\Windows "x" ' * 20_000
    body = '{"name":"s-7","task_id":%d,"result":"%s"}' % (task_id, output)
    reply = await agent.post_reply(body)
    assert reply.code == 200 and reply.json["result_truncated"] is True
    result = (await api(f"/api/tasks/{task_id}")).json["result"]
    assert result.startswith('C:\\Windows "x" C:\\Windows')
