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


@pytest.mark.gen_test
async def test_a_job_creation_retried_under_its_creation_key_answers_the_job_it_made(api, app, make_agent):
    """What the retry of a 503 whose commit did apply runs (``JobService.create``): the job
    its key made, with its tasks; no second job, no second task (tests/test_database_faults_jobs.py
    makes the 503 on a real database)."""
    from toolbox.core.jobs.selection import job_request
    from toolbox.people.principals import Principal

    names = [(await make_agent(f"idem-k{n}"))[0] for n in range(2)]
    admin = Principal("admin-token", "admin")
    request = job_request("ping", {"target": "192.0.2.10"}, agents=names)
    first, first_tasks = await app.toolbox.jobs.create(admin, request, creation_key="key-a")
    again, again_tasks = await app.toolbox.jobs.create(admin, request, creation_key="key-a")
    other, _ = await app.toolbox.jobs.create(admin, request, creation_key="key-b")
    assert again["_id"] == first["_id"] != other["_id"]
    assert sorted(t["_id"] for t in again_tasks) == sorted(t["_id"] for t in first_tasks)
    assert len((await api("/api/jobs")).json["items"]) == 2
    assert len((await api(f"/api/jobs/{first['_id']}")).json["tasks"]) == 2


@pytest.mark.gen_test
async def test_a_creation_key_sent_again_after_its_day_makes_a_new_job(api, app, make_agent):
    import datetime

    from toolbox.core.jobs.selection import job_request
    from toolbox.people.principals import Principal

    name = (await make_agent("idem-old"))[0]
    admin = Principal("admin-token", "admin")
    request = job_request("ping", {"target": "192.0.2.10"}, agents=[name])
    old, _ = await app.toolbox.jobs.create(admin, request, creation_key="key-old")
    two_days_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2)
    await app.toolbox.jobs.repo.save(old["_id"], {"created_at": two_days_ago})
    new, _ = await app.toolbox.jobs.create(admin, request, creation_key="key-old")
    assert new["_id"] != old["_id"]
    assert (await app.toolbox.jobs.repo.by_creation_key("key-old"))["_id"] == new["_id"]
