"""The admin API for agents and tasks, driven with the admin bearer token."""

import pytest

from tests.jobs_helpers import wait_for

from toolbox.store.db import Database


@pytest.mark.gen_test
async def test_the_api_requires_the_admin_token(api):
    for token in (None, "wrong"):
        reply = await api("/api/agents", token=token)
        assert reply.code == 401 and "Authorization" in reply.json["error"]


@pytest.mark.gen_test
async def test_unknown_api_paths_and_methods_get_json_errors(api):
    assert (await api("/api/nope")).code == 404
    assert (await api("/api/agents/x/y/z")).code == 404
    assert (await api("/api/agents", "DELETE")).code == 405


@pytest.mark.gen_test
async def test_create_list_read_change_and_delete_an_agent(api):
    created = await api("/api/agents", "POST", json={"name": "bj-1", "tags": ["isp:telecom", "region:bj"],
                                                     "platform": "windows"})
    assert created.code == 201
    assert created.json["token"] and created.json["name"] == "bj-1"
    assert created.json["tags"] == ["isp:telecom", "region:bj"] and created.json["platform"] == "windows"
    assert created.json["online"] is False and "token_hash" not in created.json
    listed = await api("/api/agents")
    assert [a["name"] for a in listed.json["items"]] == ["bj-1"]
    assert "token" not in listed.json["items"][0]
    changed = await api("/api/agents/bj-1", "PATCH", json={"tags": ["isp:unicom"], "disabled": True})
    assert changed.code == 200 and changed.json["tags"] == ["isp:unicom"] and changed.json["disabled"] is True
    assert (await api("/api/agents/bj-1", "DELETE")).code == 200
    assert (await api("/api/agents/bj-1")).code == 404
    assert (await api("/api/agents/bj-1", "DELETE")).code == 404


@pytest.mark.gen_test
async def test_agent_input_is_validated(api):
    bad = [{"name": ""}, {"name": "has space"}, {"name": "-dash"}, {"name": "a" * 65}, {"name": 3},
           {"name": "ok\n"}, {"name": "ok", "tags": "x"}, {"name": "ok", "tags": ["bad tag"]},
           {"name": "ok", "platform": "mac"}, {"name": "ok", "color": "red"}, {}]
    for body in bad:
        reply = await api("/api/agents", "POST", json=body)
        assert reply.code == 400, body
    assert (await api("/api/agents", "POST", body="{nope")).code == 400
    assert (await api("/api/agents", "POST", body=b"\xff")).code == 400
    assert (await api("/api/agents", "POST", json={"name": "ok"})).code == 201
    assert (await api("/api/agents", "POST", json={"name": "ok"})).code == 409
    assert (await api("/api/agents/ok", "PATCH", json={"disabled": "yes"})).code == 400
    assert (await api("/api/agents/nope", "PATCH", json={"disabled": True})).code == 404


@pytest.mark.gen_test
async def test_token_reset_returns_a_new_token_and_revokes_the_old(api, fake_agent):
    old = await fake_agent("a1")
    reply = await api("/api/agents/a1/token", "POST")
    assert reply.code == 200 and reply.json["token"] != old.token
    assert (await old.fetch_reply()).code == 401
    assert (await api("/api/agents/nope/token", "POST")).code == 404


@pytest.mark.gen_test
async def test_deleting_an_agent_cancels_its_queued_tasks(api, make_agent):
    await make_agent("a1")
    task = (await api("/api/tasks", "POST", json={"agents": ["a1"], "command": "uptime"})).json["items"][0]
    deleted = await api("/api/agents/a1", "DELETE")
    assert deleted.json["canceled_tasks"] == [task["task_id"]]
    assert (await api(f"/api/tasks/{task['task_id']}")).json["state"] == "canceled"


@pytest.mark.gen_test
async def test_create_tasks_one_per_agent(api, make_agent):
    await make_agent("a1")
    await make_agent("a2")
    reply = await api("/api/tasks", "POST", json={"agents": ["a1", "a2", "a1"], "command": "  ping  -c 1 x "})
    assert reply.code == 201
    items = reply.json["items"]
    assert [t["agent"] for t in items] == ["a1", "a2"]
    assert all(t["state"] == "queued" and t["command"] == "ping -c 1 x" for t in items)
    assert len({t["task_id"] for t in items}) == 2
    expected_keys = {"task_id", "agent", "command", "state", "created_at", "dispatched_at", "finished_at",
                     "result", "exit_code", "duration_ms", "result_truncated", "result_recovered"}
    assert expected_keys <= set(items[0])


@pytest.mark.gen_test
async def test_task_creation_is_validated(api, make_agent):
    await make_agent("a1")
    await api("/api/agents", "POST", json={"name": "off"})
    await api("/api/agents/off", "PATCH", json={"disabled": True})
    cases = [({"agents": [], "command": "x"}, 400), ({"agents": "a1", "command": "x"}, 400),
             ({"agents": ["a1"], "command": ""}, 400), ({"agents": ["a1"], "command": "a\nb"}, 400),
             ({"agents": ["a1"]}, 400), ({"agents": ["a1"], "command": "x", "extra": 1}, 400),
             ({"agents": ["ghost"], "command": "x"}, 404), ({"agents": ["off"], "command": "x"}, 400),
             ({"agents": ["a1"], "command": "x" * 5000}, 400)]
    for body, code in cases:
        assert (await api("/api/tasks", "POST", json=body)).code == code, body
    assert (await api("/api/tasks")).json["items"] == []


@pytest.mark.gen_test
async def test_task_list_is_newest_first_filtered_and_paginated(api, make_agent):
    await make_agent("a1")
    await make_agent("a2")
    ids = []
    for i in range(7):
        reply = await api("/api/tasks", "POST", json={"agents": ["a1" if i % 2 else "a2"], "command": f"echo {i}"})
        ids.append(reply.json["items"][0]["task_id"])
    page = (await api("/api/tasks?limit=3")).json
    assert [t["task_id"] for t in page["items"]] == ids[::-1][:3]
    page2 = (await api(f"/api/tasks?limit=3&before={page['next_before']}")).json
    assert [t["task_id"] for t in page2["items"]] == ids[::-1][3:6]
    only_a1 = (await api("/api/tasks?agent=a1")).json["items"]
    assert {t["agent"] for t in only_a1} == {"a1"} and len(only_a1) == 3
    await api(f"/api/tasks/{ids[0]}/cancel", "POST")
    canceled = (await api("/api/tasks?state=canceled")).json["items"]
    assert [t["task_id"] for t in canceled] == [ids[0]]
    for query in ("limit=0", "limit=x", "limit=9999", "before=-1", "state=weird"):
        assert (await api(f"/api/tasks?{query}")).code == 400, query


@pytest.mark.gen_test
async def test_cancel_a_queued_task_or_stop_a_delivered_one(api, fake_agent):
    agent = await fake_agent("a1")
    ids = [t["task_id"] for t in (await api("/api/tasks", "POST", json={"agents": ["a1"], "command": "x"})).json["items"]]
    ids += [t["task_id"] for t in (await api("/api/tasks", "POST", json={"agents": ["a1"], "command": "y"})).json["items"]]
    delivered = (await agent.fetch_reply()).json
    assert delivered["task_id"] == ids[0]
    stopped = await api(f"/api/tasks/{ids[0]}/cancel", "POST")
    assert stopped.code == 200 and stopped.json["state"] == "canceled"
    assert stopped.json["summary"] == "stopped while running"
    assert (await api(f"/api/tasks/{ids[0]}/cancel", "POST")).code == 409
    reply = await api(f"/api/tasks/{ids[1]}/cancel", "POST")
    assert reply.code == 200 and reply.json["state"] == "canceled" and reply.json["finished_at"]
    assert (await api(f"/api/tasks/{ids[1]}/cancel", "POST")).code == 409
    assert (await api("/api/tasks/424242/cancel", "POST")).code == 404
    assert (await api("/api/tasks/abc")).code == 404
    # A canceled task is never handed out.
    empty = await agent.fetch_reply(request_timeout=10)
    assert empty.json == {"task_id": 0, "command": ""}


class StoreThatGoesAway(Database):
    """The test's database, until ``go_away()``: from then on it does not answer a ping."""

    def __init__(self, database):
        super().__init__(database.client, database.name, database.embedded)
        self.away = False

    def go_away(self):
        self.away = True

    async def ping(self):
        if self.away:
            raise OSError("store away")
        await super().ping()


@pytest.mark.gen_test
@pytest.mark.parametrize("db", [StoreThatGoesAway], indirect=True)
async def test_healthz_answers_200_when_the_store_answers_and_503_when_not(api, app, db):
    reply = await api("/healthz", token=None)
    assert reply.code == 200 and reply.json["status"] is True and reply.json["state"] == "ok"
    assert reply.json["rtt_ms"] >= 0
    db.go_away()

    replies = []

    async def refused():
        replies.append(await api("/healthz", token=None))
        return replies[-1].code == 503

    assert await wait_for(refused, timeout=5.0, step=0.1)  # the background check's next ping
    reply = replies[-1]
    assert "database does not answer" in reply.json["error"] and "store away" in reply.json["error"]
    assert reply.headers["Retry-After"] == "2"


@pytest.mark.gen_test
async def test_online_while_parked_or_recently_seen(api, fake_agent, app):
    fake = await fake_agent("a1")
    assert (await api("/api/agents/a1")).json["online"] is False
    await fake.register()
    agent = (await api("/api/agents/a1")).json
    assert agent["online"] is True and agent["last_seen"]
