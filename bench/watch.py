"""Scenario 9 (``schedules``): schedules' rounds under load, the series read, bytes per point.

``rounds``: a fresh toolBox server (embedded database) and ``agents`` in-process fake
agents (``loadgen.agents_loop``: fetch, answer at once, fetch again); ``schedules``
schedules on every agent (``all``), each ``interval`` seconds with ``spread`` (so each
schedule's rounds have their own phase and each agent's task its own release), run for
``seconds``.  Then every schedule's rounds' log is read back: how late each round fired
after its due time (``late_ms``, p50/p99/max), rounds fired twice (the same ``at``
twice) and rounds lost (a slot between a schedule's first round and the end with no
round, or counted ``missed``), skipped rounds, busy agents and the tasks done.

``series``: an in-process app on the embedded database or on the MongoDB at ``uri``
(SecantusDB); one schedule with ``days`` days of hourly and six-hourly rollups for ``agents``
agents (``put_rollups``, as ``SeriesRecorder.roll`` stores them: the read touches rollups only), then ``GET
/api/schedules/{id}/series`` over the whole range, timed ``reads`` times over HTTP; and
``points`` real points written through the recorder's write path, their stored size:
the BSON bytes of one point, and on a MongoDB the collection's ``collStats`` (data and
index bytes per point, where the server tells them).
"""

import asyncio
import datetime
import json
import time
import urllib.request
import uuid

from bench import loadgen
from bench.procs import Worker
from bench.report import percentile

LATE_TARGET_S = 1.0
READ_TARGET_MS = 200.0


def _api(server, admin_token, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://{server.host}:{server.port}{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {admin_token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:  # 127.0.0.1 only
        return json.loads(reply.read() or b"null")


def _parse(iso):
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))


def rounds(server, agents, admin_token, schedules, interval, seconds, spread, log=print):
    """Scenario 9a: ``schedules`` schedules on ``agents`` for ``seconds``; the rounds' figures."""
    worker = Worker(loadgen.agents_loop, deadline=seconds + 300, agents=agents, host=server.host, port=server.port)
    worker.expect("parked", 120)
    cpu_start = server.cpu_seconds()
    made = []
    for n in range(schedules):
        body = {"tool": "ping", "params": {"target": f"192.0.2.{n % 250 + 1}", "count": 1}, "all": True,
                "interval": interval, "spread": spread, "name": f"bench-{n}"}
        made.append(_api(server, admin_token, "POST", "/api/schedules", body)["schedule_id"])
    started = time.monotonic()
    log(f"  schedules: {schedules} made; running {seconds:.0f}s")
    while time.monotonic() - started < seconds:  # bounded: ``seconds``
        time.sleep(max(0.0, min(5.0, seconds - (time.monotonic() - started))))
    end = datetime.datetime.now(datetime.timezone.utc)
    cpu = server.cpu_seconds() - cpu_start
    for sid in made:  # no more rounds; what was queued is answered below
        _api(server, admin_token, "PATCH", f"/api/schedules/{sid}", {"enabled": False})
    late, twice, lost, skipped, fired, missed, busy, tasks = [], 0, 0, 0, 0, 0, 0, 0
    settled = end - datetime.timedelta(seconds=2)  # a round due in the last 2 s may still be firing
    for sid in made:
        items = _api(server, admin_token, "GET", f"/api/schedules/{sid}/rounds?limit=500")["items"]
        ats = [_parse(item["at"]) for item in items]
        twice += len(ats) - len(set(ats))
        if ats:
            first = min(ats)
            expected = int((settled - first).total_seconds() // interval) + 1
            lost += max(0, expected - len({at for at in ats if at <= settled}))
        for item in items:
            missed += item["missed"]
            busy += len(item["busy"])
            if item["state"] == "fired":
                fired += 1
                tasks += item["agents"]
                late.append(item["late_ms"] / 1000)
            else:
                skipped += 1
    lost += missed
    deadline = time.monotonic() + 120  # every task of the rounds fired answered (bounded)
    stored = 0
    while time.monotonic() < deadline:
        worker.send("count")
        stored = worker.expect("count", 30)
        if stored >= tasks:
            break
        time.sleep(0.5)
    worker.send("stop")
    result = worker.result(120)
    return {"schedules": schedules, "agents": len(agents), "interval": interval, "spread": spread,
            "seconds": seconds, "rounds_fired": fired, "rounds_skipped": skipped, "rounds_twice": twice,
            "rounds_lost": lost, "missed": missed, "busy_agents": busy, "tasks": tasks, "tasks_stored": stored,
            "tasks_per_s": tasks / seconds if seconds else 0.0,
            "late_p50_s": percentile(late, 50) if late else float("nan"),
            "late_p99_s": percentile(late, 99) if late else float("nan"),
            "late_max_s": max(late) if late else float("nan"),
            "server_cpu_percent": 100 * cpu / seconds if seconds else 0.0,
            "errors": result["errors"][:10]}


def _ping_task(agent, task_id, avg):
    parsed = {"kind": "ping", "sent": 20, "received": 20, "loss_pct": 0.0, "rtt_min_ms": avg - 1.5,
              "rtt_avg_ms": avg, "rtt_max_ms": avg + 2.25, "rtt_mdev_ms": 0.61}
    return {"task_id": task_id, "agent": agent, "job_id": 1, "tool": "ping", "state": "done", "outcome": "ok",
            "parsed": parsed}


def _rollups(schedule_id, agents, start, days):
    """Batches of the rollups ``SeriesRecorder.roll`` stores for ``days`` days of four rounds
    an hour: each hour's, and each six hours' (from the same values) after its sixth hour."""
    from toolbox.watch.points import summarize

    block = {agent: [] for agent in agents}
    for hour in range(days * 24):
        at = start + datetime.timedelta(hours=hour)
        batch = []
        for n, agent in enumerate(agents):
            values = [{"value": 10.0 + n % 7 + k, "loss": float(k == 0 and hour % 24 == 0), "outcome": "ok",
                       "tool": "ping"} for k in range(4)]
            batch.append(dict(summarize(values), schedule_id=schedule_id, agent=agent, tier="hour", at=at))
            block[agent] += values
            if hour % 6 == 5:
                batch.append(dict(summarize(block[agent]), schedule_id=schedule_id, agent=agent, tier="6h",
                                  at=at - datetime.timedelta(hours=5)))
                block[agent] = []
        yield batch


async def _timed(read, reads):
    samples = []
    for _ in range(reads):
        began = time.perf_counter()
        await read()
        samples.append((time.perf_counter() - began) * 1000)
    return percentile(samples, 50)


async def _direct_reads(app, sid, start, end, reads, mongomock_db):
    """``SeriesReader.read`` without HTTP; on the embedded database also with the rollups in
    mongomock (the repository it had before ``MemoryRollups``), the same documents: the ratio."""
    from toolbox.store.repos.series import RollupRepo
    from toolbox.watch.series_read import SeriesReader

    reader = app.toolbox.series_reader
    figures = {"reader_ms": await _timed(lambda: reader.read(sid, None, start, end), reads)}
    if mongomock_db is not None:
        rows = [row for tier in ("hour", "6h") for row in await reader.rollups.read_range(sid, tier, start, end)]
        collection = mongomock_db["bench_series_rollups_mongomock"]
        await collection.insert_many(rows)
        before = SeriesReader(reader.points, RollupRepo(collection), reader.schedules, reader.now, reader.points_days)
        figures["reader_on_mongomock_ms"] = await _timed(lambda: before.read(sid, None, start, end), min(reads, 2))
    return figures


async def _series(uri, agents, days, reads, points):
    from toolbox.handlers import routes
    from toolbox.server.app import make_app
    from toolbox.server.config import Config
    from toolbox.store.db import BSON, open_database
    from toolbox.watch.points import point_of

    from bench.httpc import HTTPConnection

    admin = "bench-series-admin-token-0123456789"
    config = Config(admin_token=admin, secret="bench-secret-" + "x" * 32, sweep_interval=3600, mongodb_uri=uri)
    database = open_database(uri, name=f"toolbox_series_{uuid.uuid4().hex[:8]}" if uri else None)
    app = make_app(config, db=database, routes=routes())
    await app.toolbox.start()
    server = app.listen(0, "127.0.0.1")
    port = next(iter(server._sockets.values())).getsockname()[1]
    auth = {"Authorization": f"Bearer {admin}"}
    names = [f"series-{n:03d}" for n in range(agents)]
    try:
        conn = await HTTPConnection.open("127.0.0.1", port)
        status, made = await conn.json("POST", "/api/schedules", auth, {
            "tool": "ping", "params": {"target": "192.0.2.1"}, "all": True, "interval": 60,
            "start_at": "2099-01-01T00:00:00Z"})  # never fires here: its series is written below
        assert status == 201, made
        sid = made["schedule_id"]
        end = datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0)
        start = end - datetime.timedelta(days=days)
        filled = time.monotonic()
        for batch in _rollups(sid, names, start, days):
            await app.toolbox.series.rollups.put_rollups(batch)
        filled = time.monotonic() - filled
        query = f"/api/schedules/{sid}/series?from={start.isoformat()[:19]}Z&to={end.isoformat()[:19]}Z"
        samples, size, shape = [], 0, None
        for _ in range(reads):
            began = time.perf_counter()
            status, raw = await conn.request("GET", query, auth)
            samples.append((time.perf_counter() - began) * 1000)
            assert status == 200, raw[:300]
            size = len(raw)
        answer = json.loads(raw)
        direct = await _direct_reads(app, sid, start, end, reads, database if not uri else None)
        shape = {"tier": answer["tier"], "bucket_seconds": answer["bucket_seconds"], "series": len(answer["series"]),
                 "points_each": max(len(s["points"]) for s in answer["series"])}
        recent = end - datetime.timedelta(minutes=points // agents + 1)
        written = []
        for k in range(points):
            point = point_of(_ping_task(names[k % agents], k + 1, 10.0 + k % 9 * 0.37), sid,
                             recent + datetime.timedelta(minutes=k // agents))
            written.append(point)
            await app.toolbox.series.record(point)
        bson_bytes = sum(len(BSON.encode(p)) for p in written) / len(written)
        stats = {}
        if uri:
            try:
                coll = await database.client[database.name].command("collStats", "series_points")
                count = coll.get("count") or 1
                stats = {"data_bytes_per_point": coll.get("size", 0) / count,
                         "storage_bytes_per_point": coll.get("storageSize", 0) / count,
                         "index_bytes_per_point": coll.get("totalIndexSize", 0) / count}
            except Exception as error:  # not every MongoDB-wire server answers collStats
                stats = {"collstats": repr(error)[:120]}
        conn.close()
    finally:
        server.stop()
        await app.toolbox.stop()
        if uri:
            await database.drop()
        database.close()
    return {"database": "shared MongoDB" if uri else "embedded", "agents": agents, "days": days,
            "rollups": agents * days * 28, "fill_s": filled, "read_ms": samples,
            "read_median_ms": percentile(samples, 50), "read_max_ms": max(samples), "answer_bytes": size,
            **shape, **direct, "points": points, "bson_bytes_per_point": bson_bytes, **stats}


def series(uri=None, agents=50, days=30, reads=5, points=500):
    """Scenario 9b: the 30-day series read, and bytes per point (embedded, or the MongoDB at ``uri``)."""
    return asyncio.run(_series(uri, agents, days, reads, points))


def run(server_factory, admin_token, size, uri, log):
    """Scenario 9 as ``python -m bench`` runs it: {"rounds": …, "series": [embedded, shared?]}."""
    from bench import scenarios

    server = server_factory()
    try:
        names = [f"watch-{n:03d}" for n in range(size["watch_agents"])]
        agents, _seconds = scenarios.create_agents(server, admin_token, names)
        figures = {"rounds": rounds(server, agents, admin_token, size["watch_schedules"], size["watch_interval"],
                                    size["watch_seconds"], size["watch_spread"], log)}
    finally:
        server.stop()
    log(f"  rounds: { {k: v for k, v in figures['rounds'].items() if not isinstance(v, list)} }")
    # the graph's read: 50 agents' series (what a console draws), whatever the rounds' fleet
    figures["series"] = [series(None, size["watch_series_agents"], size["watch_days"], size["watch_reads"],
                                size["watch_points"])]
    if uri:
        figures["series"].append(series(uri, size["watch_series_agents"], size["watch_days"], size["watch_reads"],
                                        size["watch_points"]))
    for one in figures["series"]:
        log(f"  series ({one['database']}): read median {one['read_median_ms']:.0f} ms, "
            f"{one['bson_bytes_per_point']:.0f} B per point")
    return figures


def rows(figures):
    """The table rows of scenario 9."""
    from bench.report import _row

    r = figures["rounds"]
    where = f"{r['schedules']} × {r['agents']} agents at {r['interval']} s, {r['seconds'] / 60:.3g} min"
    out = [_row("9 schedules", f"{where}: round due → fired, p50 / max (s)",
                f"{r['late_p50_s']:.3g} / {r['late_max_s']:.3g}", None, "reported"),
           _row("9 schedules", f"{where}: round due → fired, p99 (s)", r["late_p99_s"], None,
                f"≤ {LATE_TARGET_S:g} s", r["late_p99_s"] <= LATE_TARGET_S),
           _row("9 schedules", "rounds fired twice / lost", f"{r['rounds_twice']} / {r['rounds_lost']}", None,
                "0 / 0", r["rounds_twice"] == 0 and r["rounds_lost"] == 0),
           _row("9 schedules", "rounds fired, skipped; agents busy; tasks per s",
                f"{r['rounds_fired']}, {r['rounds_skipped']}; {r['busy_agents']}; {r['tasks_per_s']:.0f}", None,
                "reported")]
    for one in figures["series"]:
        out.append(_row("9 schedules", f"series, {one['days']} days × {one['agents']} agents ({one['database']}), "
                        "median (ms)", one["read_median_ms"], None, f"≤ {READ_TARGET_MS:g} ms",
                        one["read_median_ms"] <= READ_TARGET_MS))
        if "reader_on_mongomock_ms" in one:  # the baseline column: the same read on mongomock's rollups
            out.append(_row("9 schedules", "the same read without HTTP: in memory (baseline: on mongomock) (ms)",
                            one["reader_ms"], one["reader_on_mongomock_ms"], "reported"))
        stored = f"{one['bson_bytes_per_point']:.0f} BSON"
        if "data_bytes_per_point" in one:
            stored += f", {one['data_bytes_per_point']:.0f} data + {one['index_bytes_per_point']:.0f} index"
        out.append(_row("9 schedules", f"bytes stored per point ({one['database']})", stored, None, "reported"))
    return out
