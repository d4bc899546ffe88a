"""Reading series through the API: tiers by range, change flags, the cap per series, CSV."""

import csv
import datetime
import io

import pytest

from tests.schedules_helpers import PING, START, WallClock, iso
from tests.test_series import DAYS, thirty_days
from toolbox.watch.points import point_of

DIG = {"tool": "dig", "params": {"target": "example.com"}}


def dig_task(agent, task_id, addresses, status="NOERROR"):
    parsed = {"kind": "dig", "status": status, "query_time_ms": 12.0, "server": None, "error": None,
              "answers": [{"name": "example.com.", "ttl": 60, "class": "IN", "type": "A", "data": a}
                          for a in addresses]}
    return {"agent": agent, "task_id": task_id, "job_id": None, "tool": "dig", "state": "done",
            "outcome": "ok" if status == "NOERROR" else "failed", "parsed": parsed}


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("watch_clock", [WallClock()])
async def test_raw_points_flag_what_changed_and_export_as_csv(api, app, watch_clock):
    watch_clock.set(START)
    sid = (await api("/api/schedules", "POST", json=dict(DIG, all=True, interval=60,
                                                        start_at="2030-01-01T00:00:00Z"))).json["schedule_id"]
    answers = [["192.0.2.1"], ["192.0.2.1"], ["192.0.2.2", "192.0.2.1"], ["192.0.2.1", "192.0.2.2"]]
    for n, addresses in enumerate(answers):
        at = START + datetime.timedelta(minutes=n)
        await app.toolbox.series.record(point_of(dig_task("d-1", n + 1, addresses), sid, at))
    at = START + datetime.timedelta(minutes=4)
    await app.toolbox.series.record(point_of(dig_task("d-1", 9, [], status="SERVFAIL"), sid, at))
    await app.toolbox.series.record(point_of(dig_task("d-2", 10, ["192.0.2.9"]), sid, START))
    watch_clock.advance(600)
    reply = await api(f"/api/schedules/{sid}/series?from={iso(START)}&to={iso(watch_clock())}")
    assert reply.code == 200, reply.json
    body = reply.json
    assert body["tier"] == "raw" and body["bucket_seconds"] == 60 and body["tool"] == "dig"
    assert [s["agent"] for s in body["series"]] == ["d-1", "d-2"]
    points = body["series"][0]["points"]
    assert [p["changed"] for p in points] == [[], [], ["dns"], [], ["outcome", "dns"]]
    assert points[0]["value"] == 12.0 and points[0]["numbers"] == {"status": "NOERROR", "answers": 1, "query_ms": 12.0} \
        and points[0]["answers"] == ["192.0.2.1"]
    assert points[4]["value"] is None and points[4]["outcome"] == "failed"  # a failure is not drawn as a value
    one = (await api(f"/api/schedules/{sid}/series?agent=d-2&from={iso(START)}")).json
    assert [s["agent"] for s in one["series"]] == ["d-2"]

    exported = await api(f"/api/schedules/{sid}/series?from={iso(START)}&format=csv", expect_json=False)
    assert exported.code == 200 and exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.body.decode())))
    assert rows[0] == ["agent", "at", "outcome", "value_ms", "loss_pct", "job_id", "changed"]
    assert len(rows) == 1 + 6 and rows[5][0] == "d-1" and rows[5][6] == "outcome dns"
    assert (await api(f"/api/schedules/{sid}", "DELETE")).code == 200  # its series go with it
    assert await app.toolbox.series.points.count() == 0


@pytest.mark.gen_test(timeout=30)
async def test_bad_series_requests_are_refused_with_a_clear_400(api, app):
    sid = (await api("/api/schedules", "POST", json=dict(PING, all=True, interval=60))).json["schedule_id"]
    for query, message in [("from=yesterday", "from: an ISO-8601"), ("to=2026-01-01T00:00:00Z&from=2026-02-01T00:00:00Z",
                                                                      "to: must be later than from"),
                           ("from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "at most 800 days"),
                           ("format=xml", "format: json or csv"), ("agent=-bad", "agent"),
                           ("points=5", "points: must be a whole number from 10 to 500"), ("points=x", "points")]:
        reply = await api(f"/api/schedules/{sid}/series?{query}")
        assert reply.code == 400 and message in reply.json["error"], (query, reply.json)
    assert (await api("/api/schedules/99/series")).code == 404


@pytest.mark.embedded_only("5,760 points written one by one through the write path: 20-40 s alone on SecantusDB, over pytest-timeout's 120 s in tox -e mongo beside other tests, and it starves their database meanwhile; the same repositories run on SecantusDB in tests/test_repo_series.py and the other series tests")
@pytest.mark.gen_test(timeout=120)
@pytest.mark.parametrize("watch_clock", [WallClock()])
async def test_the_range_chooses_the_tier_and_no_series_holds_more_than_a_few_hundred_points(api, app, watch_clock):
    watch_clock.set(START)
    sid = (await api("/api/schedules", "POST", json=dict(PING, all=True, interval=900,
                                                         start_at="2030-01-01T00:00:00Z"))).json["schedule_id"]
    await thirty_days(app, sid)
    end = watch_clock.set(START + datetime.timedelta(days=DAYS, minutes=10))
    for _ in range(100):
        if not await app.toolbox.series.roll():
            break

    # the last round is 15 minutes before ``end``; whole hours only in the rollups (from 13:00)
    async def read(hours):
        start = end - datetime.timedelta(hours=hours)
        reply = await api(f"/api/schedules/{sid}/series?from={iso(start)}&to={iso(end)}")
        assert reply.code == 200, reply.json
        return reply.json

    three_hours, thirty_hours = await read(3), await read(30)
    assert three_hours["tier"] == "raw" and len(three_hours["series"][0]["points"]) == 11
    assert thirty_hours["tier"] == "raw" and len(thirty_hours["series"][0]["points"]) == 119
    ten_days = await read(240)
    assert ten_days["tier"] == "hour" and ten_days["bucket_seconds"] == 3600
    assert len(ten_days["series"][0]["points"]) == 239 and ten_days["series"][0]["points"][0]["count"] == 4
    month = await read(24 * DAYS)  # 719 hours: six-hour rollups (from 18:00: the one of 12:00 began before)
    assert month["tier"] == "6h" and month["bucket_seconds"] == 6 * 3600
    assert len(month["series"][0]["points"]) == DAYS * 4 - 1
    six = month["series"][0]["points"][0]
    assert six["at"].endswith("T18:00:00Z") and six["count"] == 24 and six["outcomes"] == {"ok": 24}
    assert six["min"] == 10 and six["max"] == 13 and six["avg"] == 11.5 and six["median"] == 11.5
    year = await read(24 * 360)
    assert year["tier"] == "day" and len(year["series"][0]["points"]) == DAYS  # the first from noon on
    first_day, second_day = year["series"][0]["points"][:2]
    assert first_day["count"] == 48 and second_day["outcomes"] == {"ok": 95, "failed": 1}
    for answer in (three_hours, thirty_hours, ten_days, month, year):
        assert all(len(s["points"]) <= 500 for s in answer["series"]) and len(answer["series"]) == 2

    # ``points``: no more per series than the graph has pixels; the tier follows
    async def read_at_most(hours, points):
        start = end - datetime.timedelta(hours=hours)
        reply = await api(f"/api/schedules/{sid}/series?from={iso(start)}&to={iso(end)}&points={points}")
        assert reply.code == 200, reply.json
        assert all(len(s["points"]) <= points for s in reply.json["series"])
        return reply.json

    assert (await read_at_most(30, 100))["tier"] == "hour"  # 120 rounds > 100 points: 30 hours
    assert (await read_at_most(240, 200))["tier"] == "6h"  # 240 hours > 200 points: 40 six-hour buckets
    assert (await read_at_most(24 * DAYS, 100))["tier"] == "day"  # 120 six-hour buckets > 100
    merged = await read_at_most(24 * 360, 10)  # 360 days / 10 points: days merged 36 by 36
    assert merged["tier"] == "day" and merged["bucket_seconds"] == 36 * 86400 and len(merged["series"][0]["points"]) == 1
    whole = merged["series"][0]["points"][0]
    days = year["series"][0]["points"]
    assert whole["count"] == sum(d["count"] for d in days) and whole["outcomes"]["failed"] == DAYS - 1
    assert whole["min"] == 10 and whole["max"] == 13
    exported = await api(f"/api/schedules/{sid}/series?from={iso(end - datetime.timedelta(days=10))}"
                         f"&to={iso(end)}&format=csv", expect_json=False)
    rows = list(csv.reader(io.StringIO(exported.body.decode())))
    assert rows[0][:4] == ["agent", "at", "count", "ok"] and len(rows) == 1 + 2 * 239
