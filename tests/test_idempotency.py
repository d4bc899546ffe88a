"""``Idempotency-Key`` on ``POST /api/tasks`` and ``POST /api/jobs``: a creation sent
again (after a 503, a timeout, a dropped answer) is answered as the first time and
creates nothing more."""

import pytest


@pytest.mark.gen_test
async def test_a_task_creation_sent_twice_with_one_key_creates_one_task(api, make_agent):
    await make_agent("idem-1")
    body, key = {"agents": ["idem-1"], "command": "echo once"}, {"Idempotency-Key": "k-123"}
    first = await api("/api/tasks", "POST", json=body, headers=key)
    again = await api("/api/tasks", "POST", json=body, headers=key)
    assert first.code == again.code == 201
    assert again.json == first.json and again.headers.get("Idempotent-Replayed") == "true"
    listed = (await api("/api/tasks?agent=idem-1")).json["items"]
    assert [task["task_id"] for task in listed] == [first.json["items"][0]["task_id"]]


@pytest.mark.gen_test
async def test_without_a_key_or_with_another_key_each_creation_creates(api, make_agent):
    await make_agent("idem-2")
    body = {"agents": ["idem-2"], "command": "echo twice"}
    ids = set()
    for headers in (None, None, {"Idempotency-Key": "a"}, {"Idempotency-Key": "b"}):
        reply = await api("/api/tasks", "POST", json=body, headers=headers)
        assert reply.code == 201 and "Idempotent-Replayed" not in reply.headers
        ids.add(reply.json["items"][0]["task_id"])
    assert len(ids) == 4


@pytest.mark.gen_test
async def test_a_key_sent_again_with_another_body_is_refused(api, make_agent):
    await make_agent("idem-3")
    key = {"Idempotency-Key": "same"}
    assert (await api("/api/tasks", "POST", json={"agents": ["idem-3"], "command": "echo a"}, headers=key)).code == 201
    reply = await api("/api/tasks", "POST", json={"agents": ["idem-3"], "command": "echo b"}, headers=key)
    assert reply.code == 422 and "another request body" in reply.json["error"]


@pytest.mark.gen_test
async def test_a_refused_first_try_leaves_the_key_free_for_the_retry(api, make_agent):
    key = {"Idempotency-Key": "after-a-404"}
    body = {"agents": ["idem-4"], "command": "echo late"}
    assert (await api("/api/tasks", "POST", json=body, headers=key)).code == 404  # no such agent yet
    await make_agent("idem-4")
    reply = await api("/api/tasks", "POST", json=body, headers=key)
    assert reply.code == 201 and "Idempotent-Replayed" not in reply.headers


@pytest.mark.gen_test
async def test_a_job_sent_twice_with_one_key_is_one_job(api, make_agent):
    await make_agent("idem-5")
    body, key = {"tool": "ping", "params": {"target": "192.0.2.10"}, "agents": ["idem-5"]}, {"Idempotency-Key": "job-1"}
    first = await api("/api/jobs", "POST", json=body, headers=key)
    again = await api("/api/jobs", "POST", json=body, headers=key)
    assert first.code == again.code == 201, first.json
    assert again.json["job_id"] == first.json["job_id"] and again.headers.get("Idempotent-Replayed") == "true"
    assert len((await api("/api/jobs")).json["items"]) == 1


@pytest.mark.gen_test
async def test_a_key_that_is_no_token_is_a_400(api, make_agent):
    await make_agent("idem-6")
    reply = await api("/api/tasks", "POST", json={"agents": ["idem-6"], "command": "echo x"},
                      headers={"Idempotency-Key": "has space"})
    assert reply.code == 400 and "Idempotency-Key" in reply.json["error"]
