"""Filters that match parts of names over HTTP (``?match=part``): History's jobs by user
and target, tasks by agent, the audit log by actor and action; exact stays the default."""

import pytest

from tests.jobs_helpers import wait_for


@pytest.mark.gen_test
async def test_part_of_a_name_finds_it_and_exact_stays_the_default(api, make_agent, login_as):
    for name in ("bj-telecom-1", "bj-telecom-2", "sh-unicom-1"):
        await make_agent(name)
    olga = await login_as("operator", name="Olga.Ops")
    for agents, url in ((["bj-telecom-1", "sh-unicom-1"], "http://127.0.0.1:8080/healthz"),
                        (["bj-telecom-2"], "http://127.0.0.1:8080/nope")):
        reply = await api("/api/jobs", "POST", token=None, headers=olga.headers,
                          json={"tool": "curl", "params": {"url": url}, "agents": agents})
        assert reply.code == 201, reply.json
    await api("/api/tokens", "POST", json={"name": "script"}, token=None, headers=olga.headers)

    async def items(path):
        reply = await api(path)
        assert reply.code == 200, reply.json
        return reply.json["items"]

    assert await items("/api/tasks?agent=telecom") == []
    assert {t["agent"] for t in await items("/api/tasks?agent=TELECOM&match=part")} == {"bj-telecom-1", "bj-telecom-2"}
    assert len(await items("/api/tasks?agent=bj-telecom-1")) == 1
    assert [j["created_by"] for j in await items("/api/jobs?user=olga&match=part")] == ["Olga.Ops"] * 2
    assert await items("/api/jobs?user=olga") == []
    assert [j["full_target"] for j in await items("/api/jobs?target=/healthz&match=part")] \
        == ["http://127.0.0.1:8080/healthz"]
    assert len(await items("/api/jobs?target=127.0.0.1")) == 2  # the host, exactly
    actions = [e["action"] for e in await items("/api/audit?action=token&match=part")]
    assert actions == ["token.create"]
    assert await items("/api/audit?action=token") == []
    assert {e["action"] for e in await items("/api/audit?actor=.ops&match=part")} == {"job.create", "token.create"}
    assert await items("/api/audit?action=a.c&match=part") == []  # text, never a pattern
    for path in ("/api/tasks?match=fuzzy", "/api/jobs?match=1", "/api/audit?match=regex"):
        reply = await api(path)
        assert reply.code == 400 and reply.json["error"] == "match: must be one of exact, part", path


@pytest.mark.gen_test
async def test_jobs_are_listed_by_outcome_and_a_bad_outcome_is_a_clear_error(api, make_agent):
    await make_agent("bj-1")
    started = []
    for host in ("127.0.0.1", "localhost"):
        reply = await api("/api/jobs", "POST", json={"tool": "tcp", "params": {"target": host, "port": 8080},
                                                     "agents": ["bj-1"]})
        assert reply.code == 201, reply.json
        started.append(reply.json["job_id"])
        await api(f"/api/jobs/{reply.json['job_id']}/cancel", "POST")
    async def listed_failed():  # a job's outcome counts are saved a moment after its tasks end
        reply = await api("/api/jobs?outcome=failed")
        return reply.code == 200 and [j["job_id"] for j in reply.json["items"]] == started[::-1]

    assert await wait_for(listed_failed), (await api("/api/jobs?outcome=failed")).json  # canceled: none ok
    assert (await api("/api/jobs?outcome=ok")).json["items"] == []
    reply = await api("/api/jobs?target=127.0.0.1:8080")
    assert [j["full_target"] for j in reply.json["items"]] == ["127.0.0.1:8080"]
    reply = await api("/api/jobs?outcome=bad")
    assert reply.code == 400 and reply.json["error"] == "outcome: must be one of ok, partial, failed"
