"""Unbounded growth, closed: refusals that need no credentials are counted (one entry per
source, action and reason per minute), and the audit log has a retention and a count cap."""

import datetime

import pytest

from toolbox.people import audit as audit_module
from toolbox import clock


async def login_refusals(app):
    await app.toolbox.audit.flush()
    return [e for e in await app.toolbox.audit.list(action="login", limit=500) if e["outcome"] == "refused"]


@pytest.mark.gen_test(timeout=60)
@pytest.mark.config(auth_failures_per_minute=100000)
async def test_wrong_local_login_links_are_counted_not_each_logged(app, browser):
    for _ in range(300):
        assert (await browser.get("/auth/local?token=wrong")).code == 403
    entries = await login_refusals(app)
    assert len(entries) <= 2  # one per minute (the run may straddle a minute)
    assert sum(e["details"]["count"] for e in entries) == 300
    assert {e["details"]["reason"] for e in entries} == {"bad_local_token"}
    assert {e["address"] for e in entries} == {"127.0.0.1"}


@pytest.mark.config(feishu=True, auth_failures_per_minute=100000)
@pytest.mark.gen_test(timeout=60)
async def test_forged_feishu_callbacks_are_counted_not_each_logged(app, browser):
    for _ in range(200):
        reply = await browser.get("/auth/feishu/callback?state=forged&code=x")
        assert reply.code == 400
    entries = await login_refusals(app)
    assert len(entries) <= 2 and sum(e["details"]["count"] for e in entries) == 200


@pytest.mark.gen_test
async def test_counted_sources_per_minute_are_bounded(app, monkeypatch):
    monkeypatch.setattr(audit_module, "MAX_REFUSAL_KEYS", 5)
    log = app.toolbox.audit
    for n in range(50):
        await log.record_refusal("login", "bad_local_token", f"10.9.0.{n}")
    await log.flush()
    entries = await log.list(action="login", limit=500)
    assert len(entries) == 6 and sum(e["details"]["count"] for e in entries) == 50
    assert "*" in {e["address"] for e in entries}


@pytest.mark.gen_test
@pytest.mark.config(audit_retention_days=30)
async def test_entries_past_the_retention_are_pruned(app):
    log = app.toolbox.audit
    await log.record(None, "agent.create", "one")
    await log.record(None, "agent.create", "two")
    assert await log.prune(now=clock.utcnow() + datetime.timedelta(days=29)) == 0
    assert await log.prune(now=clock.utcnow() + datetime.timedelta(days=31)) == 2
    assert await log.list() == []


@pytest.mark.gen_test
@pytest.mark.config(audit_retention_days=0)
async def test_a_retention_of_zero_keeps_everything(app):
    log = app.toolbox.audit
    await log.record(None, "agent.create", "old-one")
    assert await log.prune(now=clock.utcnow() + datetime.timedelta(days=10000)) == 0


@pytest.mark.gen_test(timeout=30)
# No background sweep: one run mid-loop, on a slower database, cuts the log to 50 and the
# entries after it stay under the tenth of slack, so the sweep below would keep 51-54.
@pytest.mark.config(audit_limit=50, sweep_interval=600)
async def test_the_count_cap_keeps_the_newest_entries(app, api):
    log = app.toolbox.audit
    for n in range(120):
        await log.record(None, "agent.create", f"a{n:03d}")
    await log.sweep()
    kept = [e["target"] for e in await log.list(limit=500)]
    assert len(kept) == 50 and kept[0] == "a119" and kept[-1] == "a070"
    # the API still pages through what is kept
    page = (await api("/api/audit?limit=500")).json["items"]
    assert len(page) == 50


@pytest.mark.gen_test(timeout=30)
async def test_concurrent_refusals_and_flushes_count_each_refusal_once(app):
    import asyncio

    log = app.toolbox.audit
    work = [log.record_refusal("login", "bad_local_token", "10.1.1.1") for _ in range(200)]
    work += [log.flush() for _ in range(20)]
    await asyncio.gather(*work)
    await log.flush()
    entries = await log.list(action="login", limit=500)
    assert sum(e["details"]["count"] for e in entries) == 200
