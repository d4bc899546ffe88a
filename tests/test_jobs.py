"""Creating jobs over HTTP: agent selection, per-platform commands, skipped agents,
hostile parameters, the private-target policy, roles and the audit trail."""

import pytest

from tests.jobs_helpers import PING_OUTPUT, FakeAgent
from toolbox.tools.field_wrap import FIELD_WRAPPER_PERL
from tests.role_tokens import OPERATOR, VIEWER

PUBLIC_IP = "93.184.216.34"


def ping(**selector):
    return {"tool": "ping", "params": {"target": PUBLIC_IP}, **selector}


async def no_tasks_or_jobs(api):
    return (await api("/api/tasks")).json["items"] == [] and (await api("/api/jobs")).json["items"] == []


@pytest.mark.gen_test
@pytest.mark.config(poll_timeout=0.2)
async def test_a_job_by_names_queues_one_task_per_agent_with_the_platform_command(api, make_agent, fake_agent,
                                                                                   app, role_tokens):
    reference = FakeAgent(api, *await make_agent("lin-1"))
    field = FakeAgent(api, *await make_agent("lin-2"))
    # toolbox-agent says who it is when it registers; the Go field agent sends Go's User-Agent
    assert (await reference.register(headers={"User-Agent": "toolbox-agent"})).code == 200
    assert (await field.register(headers={"User-Agent": "Go-http-client/1.1"})).code == 200
    windows = await fake_agent("win-1", platform="windows")
    assert await windows.fetch() is None  # seen: online
    reply = await api("/api/jobs", "POST", token=role_tokens[OPERATOR],
                      json={"tool": "ping", "params": {"target": PUBLIC_IP, "count": "3"},
                            "agents": ["win-1", "lin-2", "lin-1", "lin-1"]})
    assert reply.code == 201, reply.json
    job = reply.json
    assert job["job_id"] == 1 and job["tool"] == "ping" and job["state"] == "running"
    assert job["params"] == {"target": PUBLIC_IP, "count": 3, "timeout": 2, "interval": None}
    assert job["target"] == PUBLIC_IP and job["created_by"] == "olga"
    assert job["agents"] == ["lin-1", "lin-2", "win-1"] and job["skipped"] == []
    assert job["offline_agents"] == []
    assert job["counts"] == {"requested": 3, "queued": 3, "dispatched": 0, "done": 0, "timed_out": 0,
                             "canceled": 0, "ok": 0, "partial": 0, "failed": 0, "lost": 0,
                             "delivery_timeout": 0, "offline": 0, "unfinished": 0}
    assert job["summary"] == "3 waiting" and job["outcome"] is None
    assert job["deadline"] > job["created_at"]
    commands = {task["agent"]: task["command"] for task in job["tasks"]}
    # the field agent's Linux command runs under the wrapper that always exits 0; Windows' is plain
    assert commands == {"lin-1": f"ping -n -c 3 -W 2 {PUBLIC_IP}",
                        "lin-2": f"perl -e {FIELD_WRAPPER_PERL} -- ping -n -c 3 -W 2 {PUBLIC_IP}",
                        "win-1": f"ping -n 3 -w 2000 {PUBLIC_IP}"}
    limits = {task["agent"]: task["time_limit"] for task in job["tasks"]}
    assert limits["lin-1"] == limits["lin-2"]  # the wrapper adds no time of its own
    for task in job["tasks"]:
        assert task["job_id"] == 1 and task["tool"] == "ping" and task["created_by"] == "olga"
        stored = await api(f"/api/tasks/{task['task_id']}")
        assert stored.json["job_id"] == 1 and stored.json["tool"] == "ping" and stored.json["state"] == "queued"
    second = await api("/api/jobs", "POST", token=role_tokens[OPERATOR], json=ping(agents=["lin-1"]))
    assert second.json["job_id"] == 2


@pytest.mark.gen_test
async def test_tags_select_agents_having_all_of_them_and_all_selects_every_agent(api, make_agent):
    await make_agent("a", tags=["isp:telecom", "region:bj"])
    await make_agent("b", tags=["isp:telecom"])
    await make_agent("c", tags=["region:bj"])
    both = await api("/api/jobs", "POST", json=ping(tags=["region:bj", "isp:telecom"]))
    assert both.code == 201 and both.json["agents"] == ["a"]
    one = await api("/api/jobs", "POST", json=ping(tags=["region:bj"]))
    assert one.json["agents"] == ["a", "c"]
    every = await api("/api/jobs", "POST", json=ping(all=True))
    assert every.json["agents"] == ["a", "b", "c"] and len(every.json["tasks"]) == 3
    nobody = await api("/api/jobs", "POST", json=ping(tags=["isp:telecom", "region:sh"]))
    assert nobody.code == 400 and "region:sh" in nobody.json["error"]
    for body in (ping(), ping(agents=["a"], tags=["x"]), ping(all=True, agents=["a"]), ping(all="yes"),
                 ping(tags=[]), ping(tags="isp:telecom"), ping(agents=[]), ping(agents="a"),
                 ping(agents=["bad name"]), {"params": {"target": PUBLIC_IP}, "all": True},
                 dict(ping(all=True), color="red")):
        reply = await api("/api/jobs", "POST", json=body)
        assert reply.code == 400, body
    assert (await api("/api/jobs", "POST", json=ping(agents=["a", "ghost"]))).code == 404
    assert len((await api("/api/tasks")).json["items"]) == 6


@pytest.mark.gen_test
async def test_agents_that_cannot_run_the_tool_are_skipped_with_a_reason(api, make_agent):
    await make_agent("lin-1")
    await make_agent("win-1", platform="windows")
    await make_agent("off-1")
    await api("/api/agents/off-1", "PATCH", json={"disabled": True})
    reply = await api("/api/jobs", "POST", json={"tool": "mtr", "params": {"target": "example.com"},
                                                  "all": True})
    assert reply.code == 201
    assert reply.json["agents"] == ["lin-1"]
    assert reply.json["skipped"] == [
        {"agent": "off-1", "reason": "the agent is disabled"},
        {"agent": "win-1", "reason": "mtr does not run on windows agents"}]
    assert reply.json["tasks"][0]["command"] == f"perl -e {FIELD_WRAPPER_PERL} -- mtr -r -n -c 10 example.com"
    assert reply.json["counts"]["requested"] == 1
    nothing = await api("/api/jobs", "POST", json={"tool": "mtr", "params": {"target": "example.com"},
                                                    "agents": ["win-1", "off-1"]})
    assert nothing.code == 400 and "win-1" in nothing.json["error"] and "off-1" in nothing.json["error"]
    assert len((await api("/api/tasks")).json["items"]) == 1


HOSTILE = [
    {"tool": "ping", "params": {"target": "-oProxyCommand=sh"}},
    {"tool": "ping", "params": {"target": "example.com; rm -rf /"}},
    {"tool": "ping", "params": {"target": "example.com|nc"}},
    {"tool": "ping", "params": {"target": "$(reboot)"}},
    {"tool": "ping", "params": {"target": "`id`.example.com"}},
    {"tool": "ping", "params": {"target": "exa mple.com"}},
    {"tool": "ping", "params": {"target": "example.com\n-c 100000"}},
    {"tool": "ping", "params": {"target": "ｅxample.com"}},  # fullwidth look-alike
    {"tool": "ping", "params": {"target": "exаmple.com"}},  # Cyrillic a
    {"tool": "ping", "params": {"target": "a" * 300 + ".com"}},
    {"tool": "ping", "params": {"target": PUBLIC_IP, "count": "4 -f"}},
    {"tool": "ping", "params": {"target": PUBLIC_IP, "count": 100000}},
    {"tool": "ping", "params": {"target": PUBLIC_IP, "count": True}},
    {"tool": "ping", "params": {"target": PUBLIC_IP, "flood": 1}},
    {"tool": "ping", "params": "target=x"},
    {"tool": "ping", "params": {}},
    {"tool": "curl", "params": {"url": "file:///etc/passwd"}},
    {"tool": "curl", "params": {"url": "http://user:pw@example.com/"}},
    {"tool": "curl", "params": {"url": "http://example.com/{a,b}"}},
    {"tool": "curl", "params": {"url": "http://example.com/ -o /tmp/x"}},
    {"tool": "dig", "params": {"target": "example.com", "server": "-p53"}},
    {"tool": "dig", "params": {"target": "example.com", "record_type": "A +short"}},
    {"tool": "tcp", "params": {"target": PUBLIC_IP, "port": 70000}},
    {"tool": "bash", "params": {"target": PUBLIC_IP}},
    {"tool": ["ping"], "params": {"target": PUBLIC_IP}},
]


@pytest.mark.gen_test
async def test_hostile_parameters_are_refused_and_create_nothing(api, make_agent):
    await make_agent("a1")
    for body in HOSTILE:
        reply = await api("/api/jobs", "POST", json=dict(body, agents=["a1"]))
        assert reply.code == 400, body
        assert len(reply.json["error"]) < 300
    assert await no_tasks_or_jobs(api)
    note = (await api("/api/jobs", "POST", json=dict(HOSTILE[0], agents=["a1"]))).json["error"]
    assert note.startswith("target:")


async def table_resolver(host):
    """Names to addresses from a table: no DNS."""
    return {"intranet.example.com": ["10.1.2.3"], "example.com": [PUBLIC_IP]}.get(host, [])


@pytest.mark.gen_test
@pytest.mark.config(deny_private_targets=True)
@pytest.mark.parametrize("resolver", [table_resolver])
async def test_private_targets_are_refused_when_the_policy_is_on(api, make_agent, app):
    await make_agent("a1")
    refused = [
        {"tool": "ping", "params": {"target": "10.0.0.1"}},
        {"tool": "ping", "params": {"target": "127.0.0.1"}},
        {"tool": "ping", "params": {"target": "::1"}},
        {"tool": "ping", "params": {"target": "169.254.169.254"}},
        {"tool": "ping", "params": {"target": "localhost"}},
        {"tool": "ping", "params": {"target": "intranet.example.com"}},
        {"tool": "curl", "params": {"url": "http://192.168.1.1:8080/admin"}},
        {"tool": "dig", "params": {"target": "example.com", "server": "10.0.0.53"}},
    ]
    for body in refused:
        reply = await api("/api/jobs", "POST", json=dict(body, agents=["a1"]))
        assert reply.code == 400 and "target:" in reply.json["error"], body
    assert await no_tasks_or_jobs(api)
    for body in ({"tool": "ping", "params": {"target": "example.com"}},
                 {"tool": "dig", "params": {"target": "example.com", "server": "8.8.8.8"}}):
        assert (await api("/api/jobs", "POST", json=dict(body, agents=["a1"]))).code == 201


@pytest.mark.gen_test
async def test_private_targets_are_allowed_when_the_policy_is_off(api, make_agent):
    await make_agent("a1")
    reply = await api("/api/jobs", "POST", json={"tool": "ping", "params": {"target": "10.0.0.1"},
                                                  "agents": ["a1"]})
    assert reply.code == 201


@pytest.mark.gen_test
async def test_roles_viewers_read_operators_start_jobs_only_admins_run_raw_commands(api, make_agent,
                                                                                    role_tokens):
    await make_agent("a1")
    denied = await api("/api/jobs", "POST", token=role_tokens[VIEWER], json=ping(agents=["a1"]))
    assert denied.code == 403 and "operator" in denied.json["error"]
    assert (await api("/api/jobs", "POST", token=None, json=ping(agents=["a1"]))).code == 401
    job = await api("/api/jobs", "POST", token=role_tokens[OPERATOR], json=ping(agents=["a1"]))
    assert job.code == 201
    job_id = job.json["job_id"]
    assert (await api("/api/jobs", token=role_tokens[VIEWER])).json["items"][0]["job_id"] == job_id
    assert (await api(f"/api/jobs/{job_id}", token=role_tokens[VIEWER])).code == 200
    assert (await api(f"/api/jobs/{job_id}/cancel", "POST", token=role_tokens[VIEWER])).code == 403
    raw = await api("/api/tasks", "POST", token=role_tokens[OPERATOR], json={"agents": ["a1"], "command": "reboot"})
    assert raw.code == 403
    assert (await api("/api/tasks/1/cancel", "POST", token=role_tokens[OPERATOR])).code == 403
    assert len((await api("/api/tasks", token=role_tokens[VIEWER])).json["items"]) == 1
    assert (await api(f"/api/jobs/{job_id}/cancel", "POST", token=role_tokens[OPERATOR])).code == 200


@pytest.mark.gen_test
async def test_job_create_and_cancel_are_audited(api, make_agent, app, role_tokens):
    await make_agent("a1")
    await make_agent("a2")
    job = (await api("/api/jobs", "POST", token=role_tokens[OPERATOR], json=ping(agents=["a1", "a2"]))).json
    await api(f"/api/jobs/{job['job_id']}/cancel", "POST", token=role_tokens[OPERATOR])
    [cancel, create] = await app.toolbox.audit.list(actor="olga")
    assert create["action"] == "job.create" and create["target"] == PUBLIC_IP and create["role"] == "operator"
    assert create["details"] == {"job_id": job["job_id"], "tool": "ping", "params": job["params"],
                                 "agents": ["a1", "a2"], "task_ids": [t["task_id"] for t in job["tasks"]]}
    assert cancel["action"] == "job.cancel" and cancel["target"] == str(job["job_id"])
    assert sorted(cancel["details"]["canceled_tasks"]) == sorted(create["details"]["task_ids"])


@pytest.mark.gen_test
async def test_raw_task_results_are_parsed_by_their_command(api, fake_agent):
    agent = await fake_agent("a1")
    [raw] = (await api("/api/tasks", "POST", json={"agents": ["a1"], "command": "ping -c 4 example.com"})).json["items"]
    assert raw["tool"] is None
    assert (await api(f"/api/tasks/{raw['task_id']}")).json["parsed"] is None
    assert (await agent.fetch())["task_id"] == raw["task_id"]
    await agent.post(raw["task_id"], PING_OUTPUT)
    parsed = (await api(f"/api/tasks/{raw['task_id']}")).json["parsed"]
    assert parsed["kind"] == "ping" and parsed["received"] == 4 and parsed["rtt_avg_ms"] == 11.474
    [other] = (await api("/api/tasks", "POST", json={"agents": ["a1"], "command": "uptime"})).json["items"]
    await agent.fetch()
    await agent.post(other["task_id"], " 10:00:00 up 3 days")
    assert (await api(f"/api/tasks/{other['task_id']}")).json["parsed"] is None


@pytest.mark.gen_test
async def test_tags_select_agents_having_any_of_them_when_asked(api, make_agent):
    await make_agent("a", tags=["isp:telecom", "region:bj"])
    await make_agent("b", tags=["isp:unicom"])
    await make_agent("c", tags=["region:sh"])
    anyof = await api("/api/jobs", "POST", json=ping(tags=["isp:telecom", "isp:unicom"], tags_match="any"))
    assert anyof.code == 201 and anyof.json["agents"] == ["a", "b"]
    allof = await api("/api/jobs", "POST", json=ping(tags=["isp:telecom", "region:bj"], tags_match="all"))
    assert allof.code == 201 and allof.json["agents"] == ["a"]
    none = await api("/api/jobs", "POST", json=ping(tags=["isp:telecom", "isp:unicom"]))
    assert none.code == 400 and none.json["error"] == "no agent has all of the tags isp:telecom, isp:unicom"
    for body, error in ((ping(tags=["isp:unicom"], tags_match="some"), "tags_match: must be one of all, any"),
                        (ping(agents=["a"], tags_match="any"), "tags_match: only with tags")):
        reply = await api("/api/jobs", "POST", json=body)
        assert reply.code == 400 and reply.json["error"] == error


@pytest.mark.gen_test
async def test_parked_fetches_take_a_jobs_tasks_before_its_creator_goes_on(app, make_agent):
    """On the embedded database nothing in a job's creation lets other coroutines run: the
    fetches its tasks woke take them before the job's audit entry and answer are written.
    On a MongoDB every claim waits for the database; the tasks still reach the fetches."""
    import asyncio
    import os

    from toolbox.core.jobs.selection import job_request
    from toolbox.people.principals import Principal

    names = [(await make_agent(f"p{i}"))[0] for i in range(3)]
    fleet = app.toolbox.fleet
    waits = []
    for name in names:
        parked = fleet.park(name, await app.toolbox.agents.require(name))
        waits.append(asyncio.ensure_future(fleet.next_task(name, parked, 10)))
    await asyncio.sleep(0)  # each fetch looked for a task (none yet) and waits
    _doc, tasks = await app.toolbox.jobs.create(Principal("admin-token", "admin"),
                                                job_request("ping", {"target": "192.0.2.10"}, agents=names))
    if not os.environ.get("TOOLBOX_TEST_MONGODB_URI"):
        assert all(wait.done() for wait in waits)
    claimed = await asyncio.wait_for(asyncio.gather(*waits), 10)
    assert sorted(doc["_id"] for doc in claimed) == sorted(task["_id"] for task in tasks)
    assert {doc["state"] for doc in claimed} == {"dispatched"}
