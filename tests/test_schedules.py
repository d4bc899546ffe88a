"""Schedules through the API: create, read, change, delete; validation, roles and the audit log."""

import pytest

from tests.role_tokens import OPERATOR, OPERATOR_2, VIEWER
from tests.schedules_helpers import PING, START, WallClock, iso


def clock_of(app):
    return app.toolbox.schedules.now


ROUND_FIELDS = ("next_run", "last_round", "rounds")


@pytest.mark.gen_test
@pytest.mark.parametrize("watch_clock", [WallClock()])
async def test_a_schedule_is_created_read_changed_and_deleted(api, app, fake_agent):
    await fake_agent("s-1", tags=["eu"])
    clock = clock_of(app)
    clock.set(START)
    reply = await api("/api/schedules", "POST", json=dict(PING, tags=["eu"], interval=300, name="eu ping"))
    assert reply.code == 201, reply.json
    made = reply.json
    assert made["name"] == "eu ping" and made["interval"] == 300 and made["enabled"] is True
    assert made["tags"] == ["eu"] and made["tags_match"] == "all" and made["spread"] == 0
    assert made["next_run"] == iso(START) and made["owner"] == "admin-token"
    sid = made["schedule_id"]
    read = (await api(f"/api/schedules/{sid}")).json  # its first round, due now, may have fired already
    assert {k: v for k, v in read.items() if k not in ROUND_FIELDS} == {k: v for k, v in made.items()
                                                                         if k not in ROUND_FIELDS}
    listed = (await api("/api/schedules")).json
    assert [s["schedule_id"] for s in listed["items"]] == [sid] and listed["next_before"] is None

    paused = await api(f"/api/schedules/{sid}", "PATCH", json={"enabled": False})
    assert paused.code == 200 and paused.json["enabled"] is False and paused.json["next_run"] is None
    clock.advance(30)
    resumed = await api(f"/api/schedules/{sid}", "PATCH", json={"enabled": True, "interval": 60})
    assert resumed.json["next_run"] == iso(clock()) and resumed.json["interval"] == 60

    later = clock.advance(3600)
    moved = await api(f"/api/schedules/{sid}", "PATCH", json={"start_at": iso(later.replace(hour=20))})
    assert moved.json["next_run"] == iso(later.replace(hour=20))

    gone = await api(f"/api/schedules/{sid}", "DELETE")
    assert gone.code == 200 and gone.json == {"status": True, "schedule_id": sid}
    assert (await api(f"/api/schedules/{sid}")).code == 404
    actions = [e["action"] for e in (await api("/api/audit?action=schedule&match=part")).json["items"]]
    assert actions == ["schedule.delete", "schedule.update", "schedule.update", "schedule.update",
                       "schedule.create"]


@pytest.mark.parametrize("body, message", [
    ({"tool": "ping", "params": {"target": "192.0.2.1"}, "all": True}, "interval: required"),
    (dict(PING, all=True, interval=59), "interval: must be a whole number from 60 to 86400"),
    (dict(PING, all=True, interval=86401), "interval: must be a whole number from 60 to 86400"),
    (dict(PING, all=True, interval="sixty"), "interval: must be a whole number"),
    (dict(PING, all=True, interval=60, spread=1.5), "spread: a fraction of the interval from 0 to 1"),
    (dict(PING, all=True, interval=60, spread=True), "spread: a fraction"),
    (dict(PING, interval=60), "select agents with exactly one of agents, tags or all"),
    (dict(PING, all=True, tags=["eu"], interval=60), "select agents with exactly one"),
    (dict(PING, all=True, tags_match="any", interval=60), "tags_match: only with tags"),
    (dict(PING, tags=["eu"], tags_match="some", interval=60), "tags_match: must be one of all, any"),
    (dict(PING, agents=[], interval=60), "agents: a list of 1 to"),
    ({"tool": "nope", "params": {}, "all": True, "interval": 60}, "unknown tool"),
    ({"tool": 5, "params": {}, "all": True, "interval": 60}, "tool"),
    ({"tool": "ping", "params": {"target": "-x"}, "all": True, "interval": 60}, "target"),
    (dict(PING, all=True, interval=60, start_at="yesterday"), "start_at: an ISO-8601 date-time"),
    (dict(PING, all=True, interval=60, start_at="2026-01-01T00:00:00"), "start_at: give a time zone"),
    (dict(PING, all=True, interval=60, start_at="2026-01-02T00:00:00Z", stop_at="2026-01-01T00:00:00Z"),
     "stop_at: must be later than start_at"),
    (dict(PING, all=True, interval=60, name=""), "name: 1 to 100 characters"),
    (dict(PING, all=True, interval=60, enabled="yes"), "enabled"),
    (dict(PING, all=True, interval=60, colour="red"), "unknown field: colour"),
    ([1, 2], "the body must be a JSON object"),
])
@pytest.mark.gen_test
async def test_a_bad_schedule_is_refused_with_a_clear_400(api, app, body, message):
    reply = await api("/api/schedules", "POST", json=body)
    assert reply.code == 400, reply.json
    assert message.lower() in reply.json["error"].lower()
    assert (await api("/api/schedules")).json["items"] == []


@pytest.mark.gen_test
async def test_a_bad_change_is_refused_and_changes_nothing(api, app):
    sid = (await api("/api/schedules", "POST", json=dict(PING, all=True, interval=120))).json["schedule_id"]
    for body, message in [({}, "nothing to change"), ({"interval": 30}, "interval"),
                          ({"tags_match": "any"}, "tags_match: only with tags"),
                          ({"params": {"target": ""}}, "target"), ({"owner": 5}, "owner")]:
        reply = await api(f"/api/schedules/{sid}", "PATCH", json=body)
        assert reply.code == 400 and message in reply.json["error"], (body, reply.json)
    assert (await api(f"/api/schedules/{sid}")).json["interval"] == 120
    assert (await api("/api/schedules/abc")).code == 404
    assert (await api("/api/schedules/999", "PATCH", json={"enabled": False})).code == 404


@pytest.mark.gen_test
async def test_operators_change_only_their_own_and_admins_all(api, app, role_tokens):
    olga, oscar, vera = role_tokens[OPERATOR], role_tokens[OPERATOR_2], role_tokens[VIEWER]
    body = dict(PING, all=True, interval=600)
    assert (await api("/api/schedules", "POST", json=body, token=vera)).code == 403
    mine = await api("/api/schedules", "POST", json=body, token=olga)
    assert mine.code == 201 and mine.json["owner"] == OPERATOR
    sid = mine.json["schedule_id"]
    assert (await api(f"/api/schedules/{sid}", token=vera)).code == 200  # viewers read
    assert (await api(f"/api/schedules/{sid}", "PATCH", json={"enabled": False}, token=vera)).code == 403
    refused = await api(f"/api/schedules/{sid}", "PATCH", json={"enabled": False}, token=oscar)
    assert refused.code == 403 and "olga's" in refused.json["error"]
    assert (await api(f"/api/schedules/{sid}", "DELETE", token=oscar)).code == 403
    assert (await api(f"/api/schedules/{sid}", "PATCH", json={"name": "mine"}, token=olga)).code == 200
    stolen = await api("/api/schedules", "POST", json=dict(body, owner=mine.json["owner_id"]), token=oscar)
    assert stolen.code == 403
    for_olga = await api("/api/schedules", "POST", json=dict(body, owner=mine.json["owner_id"]))
    assert for_olga.code == 201 and for_olga.json["owner"] == OPERATOR  # an admin, for someone else
    assert (await api("/api/schedules", "POST", json=dict(body, owner="u-nobody"))).code == 400
    only_olgas = (await api("/api/schedules?owner=me", token=olga)).json["items"]
    assert sorted(s["schedule_id"] for s in only_olgas) == [sid, for_olga.json["schedule_id"]]
    assert (await api("/api/schedules?owner=me", token=oscar)).json["items"] == []
    assert (await api(f"/api/schedules/{sid}", "PATCH", json={"enabled": False})).code == 200  # admin
    assert (await api(f"/api/schedules/{sid}", "DELETE", token=olga)).code == 200
    entries = (await api("/api/audit?action=schedule&match=part")).json["items"]
    assert [(e["action"], e["actor"]) for e in entries][:2] == [("schedule.delete", OPERATOR),
                                                                ("schedule.update", "admin-token")]
    assert entries[1]["details"]["changes"] == {"enabled": False}
