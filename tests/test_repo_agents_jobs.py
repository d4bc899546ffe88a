"""The agents and jobs repositories' contract, on the in-memory implementation and on a
MongoDB-wire server alike (``tests/repo_backends.py``)."""

import datetime

import pytest

from tests.repo_backends import backend  # noqa: F401  (the fixture)
from toolbox.store.db import DuplicateKeyError
from toolbox.store.repos.jobs import JobQuery

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def at(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


def naive(value):
    return value.replace(tzinfo=None)


@pytest.mark.gen_test
async def test_agents_are_created_once_changed_by_name_and_deleted(backend):  # noqa: F811
    agents = await backend.agents()
    tags = ["web"]
    await agents.insert({"_id": "a1", "tags": tags, "updated_at": at(0)})
    tags.append("changed later by the caller")
    with pytest.raises(DuplicateKeyError):
        await agents.insert({"_id": "a1", "tags": []})
    assert (await agents.get("a1"))["tags"] == ["web"]
    changed = await agents.update("a1", {"disabled": True, "updated_at": at(10)})
    assert changed["disabled"] is True and changed["tags"] == ["web"]
    assert await agents.update("nobody", {"disabled": True}) is None
    await agents.insert({"_id": "a2", "tags": [], "updated_at": at(5)})
    assert sorted(doc["_id"] for doc in await agents.all()) == ["a1", "a2"]
    assert [doc["_id"] for doc in await agents.changed_since(at(6))] == ["a1"]
    assert len(await agents.changed_since(None)) == 2
    assert await agents.delete("a2") is True and await agents.delete("a2") is False
    assert await agents.get("a2") is None


@pytest.mark.gen_test
async def test_stored_last_seen_times_only_go_forward(backend):  # noqa: F811
    agents = await backend.agents()
    for name in ("a1", "a2", "a3"):
        await agents.insert({"_id": name})
    await agents.store_last_seen({"a1": at(10), "a2": at(10)})
    await agents.store_last_seen({"a1": at(5), "a2": at(20), "ghost": at(30)})  # a1 older: kept at 10
    seen = await agents.last_seen_of(["a1", "a2", "a3", "ghost"])
    assert {name: naive(when) for name, when in seen.items()} == {"a1": naive(at(10)), "a2": naive(at(20))}
    assert await agents.get("ghost") is None  # never created by a last-seen write
    await agents.store_last_seen({})


def job(job_id, **fields):
    return {"_id": job_id, "tool": "ping", "params": {"host": "h"}, "target": "h", "created_by": "olga",
            "state": "running", "finished_at": None, "counts": {"requested": 1}, "owner": None, **fields}


@pytest.mark.gen_test
async def test_jobs_are_saved_by_id_and_listed_newest_first(backend):  # noqa: F811
    jobs = await backend.jobs()
    await jobs.insert(job(1))
    await jobs.insert(job(2, tool="http", target="example.org", params={"url": "https://Example.org/x"},
                          created_by="Pavel"))
    await jobs.insert(job(3, state="done", finished_at=at(1)))
    with pytest.raises(DuplicateKeyError):
        await jobs.insert(job(3))
    counts = {"requested": 1, "done": 1}
    await jobs.save(1, {"state": "done", "counts": counts, "finished_at": at(2)})
    counts["done"] = 99  # the caller's dict, changed after the save
    assert (await jobs.get(1))["counts"] == {"requested": 1, "done": 1}
    assert await jobs.get(9) is None

    async def ids(limit=50, **query):
        return [doc["_id"] for doc in await jobs.newest(JobQuery(**query), limit)]

    assert await ids() == [3, 2, 1] and await ids(limit=1) == [3]
    assert await ids(tool="http") == [2] and await ids(state="done") == [3, 1] and await ids(before=3) == [2, 1]
    assert await ids(user="pav") == [] and await ids(user="PAV", part=True) == [2]
    assert await ids(target="example.org") == [2]  # the job's host
    assert await ids(target="example.org/x", part=True) == [2]  # or its URL
    assert await ids(target="h") == [3, 1]


@pytest.mark.gen_test
async def test_jobs_are_found_by_outcome_and_tcp_jobs_by_host_port_as_shown(backend):  # noqa: F811
    jobs = await backend.jobs()
    await jobs.insert(job(1, state="done", outcome="ok"))
    await jobs.insert(job(2, state="done", outcome="failed"))
    await jobs.insert(job(3, state="done", outcome="partial"))
    await jobs.insert(job(4))  # running: no outcome yet
    await jobs.insert(job(5, tool="tcp", target="127.0.0.1", params={"target": "127.0.0.1", "port": 8080}))
    await jobs.insert(job(6, tool="tcp", target="127.0.0.1", params={"target": "127.0.0.1", "port": 80}))
    await jobs.insert(job(7, tool="tcp", target="::1", params={"target": "::1", "port": 8080}))
    await jobs.insert(job(8, tool="ping", target="127.0.0.1", params={"target": "127.0.0.1"}))

    async def ids(**query):
        return [doc["_id"] for doc in await jobs.newest(JobQuery(**query), 50)]

    assert await ids(outcome="failed") == [2] and await ids(outcome="ok") == [1]
    assert await ids(outcome="partial", state="done") == [3]
    assert await ids(target="127.0.0.1:8080") == [5]  # as the console shows a tcp job
    assert await ids(target="0.0.1:8080", part=True) == [5]  # the host's end, the port exactly
    assert await ids(target="127.0.0.1:80") == [6]
    assert await ids(target="[::1]:8080") == [7]
    assert await ids(target="127.0.0.1") == [8, 6, 5]  # the host alone: every tool


@pytest.mark.gen_test
async def test_unfinished_jobs_are_adopted_once(backend):  # noqa: F811
    jobs = await backend.jobs()
    await jobs.insert(job(1, owner="p1"))
    await jobs.insert(job(2, owner="p2"))
    await jobs.insert(job(3))
    await jobs.insert(job(4, owner="p1", state="done", finished_at=at(1)))
    assert sorted(doc["_id"] for doc in await jobs.unfinished()) == [1, 2, 3]
    assert sorted(doc["_id"] for doc in await jobs.unfinished(not_owned_by=["p2", "p3"])) == [1, 3]
    assert (await jobs.adopt(1, "p1", "p3"))["owner"] == "p3"
    assert await jobs.adopt(1, "p1", "p4") is None  # p3 was quicker
    assert (await jobs.adopt(3, None, "p3"))["owner"] == "p3"
    assert await jobs.adopt(4, "p1", "p3") is None  # finished: nothing to count
