"""The tasks and task-history repositories' contract, on the in-memory implementation and
on a MongoDB-wire server alike (``tests/repo_backends.py``): they cannot drift apart."""

import datetime

import pytest

from tests.repo_backends import backend  # noqa: F401  (the fixture)
from toolbox.store.db import DuplicateKeyError
from toolbox.store.repos.tasks import TaskQuery

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def at(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


def task(task_id, agent="a1", state="queued", created=0, **fields):
    return {"_id": task_id, "agent": agent, "command": f"echo {task_id}", "state": state,
            "created_at": at(created), "time_limit": 10.0, **fields}


def dispatch(when=100, registration="r1"):
    return {"state": "dispatched", "dispatched_at": at(when), "registration": registration}


DONE = {"state": "done", "outcome": "ok", "summary": "fine", "result": "0"}
LOST = {"state": "lost", "reason": "timeout", "outcome": "lost", "summary": "gone"}


def same_time(a, b):
    return a.replace(tzinfo=None) == b.replace(tzinfo=None)


@pytest.mark.gen_test
async def test_claims_go_oldest_first_one_at_a_time_per_agent(backend):  # noqa: F811
    tasks = await backend.tasks()
    assert await tasks.claim_next_for("a1", dispatch()) is None  # nothing queued
    await tasks.insert([task(3, created=5), task(1, created=9), task(2, created=5), task(4, agent="a2")])
    first = await tasks.claim_next_for("a1", dispatch())
    assert first["_id"] == 2 and first["state"] == "dispatched" and first["registration"] == "r1"
    assert await tasks.claim_next_for("a1", dispatch()) is None  # 2 is in flight
    assert (await tasks.claim_next_for("a2", dispatch()))["_id"] == 4  # another agent: its own
    assert (await tasks.complete(2, "a1", DONE))["state"] == "done"
    assert (await tasks.claim_next_for("a1", dispatch()))["_id"] == 3
    assert (await tasks.end_in_flight("a1", LOST))["_id"] == 3
    assert await tasks.end_in_flight("a1", LOST) is None  # nothing in flight any more
    assert (await tasks.claim_next_for("a1", dispatch()))["_id"] == 1
    assert await tasks.count("dispatched") == 2 and await tasks.count() == 4


@pytest.mark.gen_test
async def test_a_task_created_ahead_is_handed_out_only_once_released(backend):  # noqa: F811
    tasks = await backend.tasks()  # a spread round's tasks: created_at is when each is released
    await tasks.insert([task(1, created=150), task(2, created=120), task(3, agent="a2", created=50)])
    assert await tasks.claim_next_for("a1", dispatch(100)) is None  # neither released at 100
    assert await tasks.agents_with_queued(100, at(100)) == {"a2"}
    assert await tasks.agents_with_queued(100) == {"a1", "a2"}
    assert (await tasks.claim_next_for("a1", dispatch(130)))["_id"] == 2
    assert await tasks.agents_with_queued(100, at(130)) == {"a2"}  # 1 waits till 150
    await tasks.complete(2, "a1", DONE)
    assert await tasks.claim_next_for("a1", dispatch(149)) is None
    assert (await tasks.claim_next_for("a1", dispatch(151)))["_id"] == 1


@pytest.mark.gen_test
async def test_a_task_put_back_is_queued_again_only_for_its_own_dispatch(backend):  # noqa: F811
    tasks = await backend.tasks()
    await tasks.insert([task(1), task(2, created=1)])
    claimed = await tasks.claim_next_for("a1", dispatch(100))
    assert await tasks.put_back(1, at(99)) is None  # another dispatch of it
    back = await tasks.put_back(1, claimed["dispatched_at"])
    assert back["state"] == "queued" and back["dispatched_at"] is None and back["registration"] is None
    again = await tasks.claim_next_for("a1", dispatch(200, "r2"))
    assert again["_id"] == 1 and again["registration"] == "r2"  # still the oldest


@pytest.mark.gen_test
async def test_results_are_taken_for_dispatched_or_lost_tasks_of_their_agent_only(backend):  # noqa: F811
    tasks = await backend.tasks()
    await tasks.insert([task(1), task(2, created=1)])
    assert await tasks.complete(1, "a1", DONE) is None  # still queued
    await tasks.claim_next_for("a1", dispatch())
    assert await tasks.complete(1, "a2", DONE) is None  # not its agent
    assert (await tasks.end_dispatched(1, at(100), LOST))["state"] == "lost"
    late = await tasks.complete(1, "a1", DONE)
    assert late["state"] == "done" and late["reason"] == "timeout"  # a late result is kept
    assert await tasks.complete(1, "a1", DONE) is None  # done already
    assert (await tasks.claim_next_for("a1", dispatch()))["_id"] == 2  # lost freed the agent


@pytest.mark.gen_test
async def test_only_queued_tasks_end_queued_and_only_their_own_dispatch_ends_dispatched(backend):  # noqa: F811
    tasks = await backend.tasks()
    await tasks.insert([task(1), task(2, created=1)])
    assert (await tasks.end_queued(2, {"state": "canceled"}))["state"] == "canceled"
    assert await tasks.end_queued(2, {"state": "canceled"}) is None
    await tasks.claim_next_for("a1", dispatch(100))
    assert await tasks.end_queued(1, {"state": "canceled"}) is None
    assert await tasks.end_dispatched(1, at(50), LOST) is None
    assert await tasks.queued_ids("a1") == []
    assert await tasks.claim_next_for("a1", dispatch()) is None  # 1 in flight, 2 canceled


@pytest.mark.gen_test
async def test_a_duplicate_id_is_refused(backend):  # noqa: F811
    tasks = await backend.tasks()
    await tasks.insert([task(1)])
    with pytest.raises(DuplicateKeyError):
        await tasks.insert([task(1, agent="a2")])
    assert (await tasks.get(1))["agent"] == "a1"


@pytest.mark.gen_test
async def test_the_sweepers_reads(backend):  # noqa: F811
    tasks = await backend.tasks()
    await tasks.insert([task(1, created=0), task(2, created=50), task(3, agent="a2", created=0, tool="ping"),
                        task(4, agent="a3", created=0, target="h1"), task(5, agent="a3", created=1, target="h1"),
                        task(6, agent="a4", state="done", target="h1")])
    assert sorted(await tasks.queued_before(at(10))) == [1, 3, 4, 5]
    await tasks.claim_next_for("a2", dispatch(100))
    stale = await tasks.dispatched_before(at(101))
    assert [(doc["_id"], same_time(doc["dispatched_at"], at(100)), doc["tool"]) for doc in stale] == [(3, True, "ping")]
    assert await tasks.dispatched_before(at(100)) == []
    assert [(doc["_id"], doc["agent"]) for doc in await tasks.in_flight()] == [(3, "a2")]
    assert await tasks.agents_with_queued(100) == {"a1", "a3"}
    assert sorted(await tasks.queued_ids("a1")) == [1, 2]
    assert await tasks.unfinished_for("h1") == 2 and await tasks.unfinished_for("h2") == 0
    oldest = await tasks.oldest_unfinished_for("h1")
    assert same_time(oldest["created_at"], at(0)) and oldest["time_limit"] == 10.0
    assert await tasks.oldest_unfinished_for("h2") is None


@pytest.mark.gen_test
async def test_lists_filter_and_go_newest_first(backend):  # noqa: F811
    tasks = await backend.tasks()
    await tasks.insert([task(1, agent="web-1", job_id=7), task(2, agent="Web-2", state="done", job_id=7),
                        task(3, agent="db-1"), task(4, agent="web-1", state="done")])

    async def ids(limit=50, **query):
        return [doc["_id"] for doc in await tasks.newest(TaskQuery(**query), limit)]

    assert await ids() == [4, 3, 2, 1] and await ids(limit=2) == [4, 3]
    assert await ids(agent="web-1") == [4, 1] and await ids(agent="web") == []
    assert await ids(agent="WEB", part=True) == [4, 2, 1]
    assert await ids(agent=".", part=True) == []  # the text is escaped, never a pattern
    assert await ids(state="done") == [4, 2] and await ids(job_id=7) == [2, 1]
    assert await ids(before=3) == [2, 1] and await ids(agent="web-1", state="done") == [4]


@pytest.mark.gen_test
async def test_finished_tasks_move_to_history_unless_they_changed_meanwhile(backend):  # noqa: F811
    tasks, history = await backend.tasks(), await backend.history()
    await tasks.insert([task(1), task(2, agent="a2"), task(3, agent="a3")])
    for agent in ("a1", "a2"):
        await tasks.claim_next_for(agent, dispatch())
    await tasks.complete(1, "a1", DONE)
    await tasks.end_in_flight("a2", LOST)
    assert sorted(await tasks.finished_ids(10)) == [1, 2]
    assert len(await tasks.finished_ids(1)) == 1
    docs = await tasks.finished([1, 2, 3])
    assert sorted(doc["_id"] for doc in docs) == [1, 2]  # 3 is still queued
    await history.insert_copies(docs)
    await tasks.complete(2, "a2", DONE)  # a late result between the copy and the delete
    await tasks.delete_unchanged(docs)
    assert await tasks.get(1) is None and (await tasks.get(2))["state"] == "done"
    await history.insert_copies(await tasks.finished([2]))  # the next move copies it again
    await tasks.delete_unchanged(await tasks.finished([2]))
    assert (await history.get(2))["state"] == "done" and await history.count() == 2
    assert await tasks.count() == 1 and await tasks.finished_ids(10) == []


@pytest.mark.gen_test
async def test_history_takes_late_results_lists_and_prunes_the_oldest(backend):  # noqa: F811
    history = await backend.history()
    await history.insert_copies([task(i, state="lost" if i == 3 else "done", agent=f"a{i % 2}")
                                 for i in range(1, 13)])
    assert await history.complete(3, "a0", DONE) is None  # not its agent
    assert (await history.complete(3, "a1", DONE))["state"] == "done"
    assert await history.complete(3, "a1", DONE) is None
    assert [doc["_id"] for doc in await history.newest(TaskQuery(agent="a0"), 3)] == [12, 10, 8]
    assert await history.prune(0) == 0  # 0: keep all
    assert await history.prune(12) == 0  # at the limit
    assert await history.prune(10) == 2 and await history.count() == 10
    assert await history.get(2) is None and await history.get(3) is not None


@pytest.mark.gen_test
async def test_a_shared_database_ends_overlapping_dispatches_left_by_an_older_server(backend):  # noqa: F811
    if backend.db is None:
        pytest.skip("the in-memory tasks start empty: nothing older can have written them")
    raw = backend.db["tasks"]
    await raw.insert_many([task(1, **dispatch(100)), task(2, **dispatch(200))])
    tasks = await backend.tasks()
    assert (await tasks.get(1))["state"] == "lost" and (await tasks.get(2))["state"] == "dispatched"


STOPPED = {"state": "canceled", "outcome": "canceled", "summary": "stopped with its job"}


@pytest.mark.gen_test
async def test_a_stopped_task_is_held_in_flight_until_its_result_or_its_release(backend):  # noqa: F811
    tasks = await backend.tasks()
    await tasks.insert([task(1), task(2, created=1), task(3, created=2)])
    assert await tasks.stop_dispatched(1, STOPPED) is None  # queued: nothing to stop
    await tasks.claim_next_for("a1", dispatch())
    held = await tasks.stop_dispatched(1, STOPPED)
    assert held["state"] == "canceled" and held["held"] is True
    assert await tasks.stop_dispatched(1, STOPPED) is None  # stopped already
    assert await tasks.claim_next_for("a1", dispatch()) is None  # its result is still to come
    assert await tasks.count("queued") == 2  # the refused claim left the next task queued
    assert await tasks.finished_ids(10) == [] and await tasks.finished([1]) == []  # not archived yet
    assert [doc["_id"] for doc in await tasks.held_before(at(101))] == [1]
    assert await tasks.held_before(at(99)) == []
    assert await tasks.complete(1, "a1", DONE) is None  # a result does not make it done
    assert await tasks.answer_held(1, "a2", {"result": "x"}) is None  # not its agent
    answered = await tasks.answer_held(1, "a1", {"result": "late", "summary": "stopped; 1 reply"})
    assert answered["state"] == "canceled" and answered["result"] == "late" and "held" not in answered
    assert await tasks.answer_held(1, "a1", {"result": "again"}) is None
    assert await tasks.finished_ids(10) == [1]
    second = await tasks.claim_next_for("a1", dispatch(200))
    assert second["_id"] == 2
    await tasks.stop_dispatched(2, STOPPED)
    released = await tasks.release_held("a1")
    assert released["_id"] == 2 and "held" not in released and released["state"] == "canceled"
    assert await tasks.release_held("a1") is None
    assert (await tasks.claim_next_for("a1", dispatch(300)))["_id"] == 3


@pytest.mark.gen_test
async def test_partial_output_is_kept_while_dispatched_and_dropped_with_the_result(backend):  # noqa: F811
    tasks = await backend.tasks()
    await tasks.insert([task(1)])
    await tasks.store_partial(1, "a1", {"output": "early", "bytes": 5})
    assert "partial" not in await tasks.get(1)  # queued: no output yet
    await tasks.claim_next_for("a1", dispatch())
    await tasks.store_partial(1, "a2", {"output": "other", "bytes": 5})  # not its agent
    await tasks.store_partial(1, "a1", {"output": "so far", "bytes": 6})
    assert (await tasks.get(1))["partial"] == {"output": "so far", "bytes": 6}
    done = await tasks.complete(1, "a1", DONE)
    assert "partial" not in done and "partial" not in await tasks.get(1)
    await tasks.store_partial(1, "a1", {"output": "late", "bytes": 4})  # a post after the result
    assert "partial" not in await tasks.get(1)
