"""The embedded database's ``_id`` lookup and quick checks: same answers as a scan, with less work."""

import datetime

import pytest
from mongomock import collection, filtering

from toolbox.store.db import ReturnDocument, open_database


@pytest.fixture
def coll(io_loop):
    database = open_database(None, name="test_db_embedded")
    collection = database["things"]
    io_loop.run_sync(lambda: collection.insert_many(
        [{"_id": i, "state": "queued" if i % 2 else "done"} for i in range(1, 201)]
        + [{"_id": "name", "state": "x"}, {"_id": "other", "state": "y"}]))
    yield collection
    io_loop.run_sync(database.drop)
    database.close()


@pytest.mark.gen_test
async def test_lookup_by_id_matches_scan_semantics(coll):
    assert (await coll.find_one({"_id": 7}))["state"] == "queued"
    assert await coll.find_one({"_id": 7, "state": "done"}) is None
    assert await coll.find_one({"_id": 999}) is None
    assert (await coll.find_one({"_id": "name"}))["state"] == "x"
    assert (await coll.find_one({"_id": 1}))["state"] == "queued"
    assert {doc["_id"] async for doc in coll.find({"_id": {"$in": [3, 4]}})} == {3, 4}


@pytest.mark.gen_test
async def test_find_one_and_update_by_id(coll):
    doc = await coll.find_one_and_update({"_id": 9, "state": "queued"}, {"$set": {"state": "done"}},
                                         return_document=ReturnDocument.AFTER)
    assert doc == {"_id": 9, "state": "done"}
    assert await coll.find_one_and_update({"_id": 9, "state": "queued"}, {"$set": {"state": "x"}}) is None
    assert (await coll.delete_one({"_id": 9})).deleted_count == 1
    assert await coll.find_one({"_id": 9}) is None


@pytest.mark.gen_test
async def test_lookup_by_id_does_not_scan(coll, monkeypatch):
    calls = []
    real = filtering.filter_applies
    counting = lambda *a, **k: calls.append(1) or real(*a, **k)  # noqa: E731
    monkeypatch.setattr(filtering, "filter_applies", counting)
    monkeypatch.setattr(collection, "filter_applies", counting)  # the scan's own import
    await coll.find_one({"_id": 150, "state": "done"})
    assert len(calls) == 1
    calls.clear()
    await coll.find_one({"state": {"$ne": "y"}})  # other filters still test every document
    assert len(calls) > 200
    calls.clear()
    assert (await coll.find_one({"state": "y"}))["_id"] == "other"  # ruled out by the string test
    assert len(calls) == 1


@pytest.mark.gen_test
async def test_quick_checks_give_the_answers_of_the_full_filter(io_loop):
    database = open_database(None, name="test_db_quick_checks")
    things = database["things"]
    day = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    values = ["queued", "done", None, ["queued", "x"], ["done"], [], 7, {"a": 1}, "Queued",
              day, day - datetime.timedelta(hours=1), day + datetime.timedelta(seconds=1), [day]]
    docs = [{"_id": i, "state": value, "at": values[(i * 5 + 3) % len(values)]}
            for i, value in enumerate(values)] + [{"_id": 100}, {"_id": 101, "state": "queued"}]
    await things.insert_many(docs)
    filters = [{"state": "queued"}, {"state": {"$in": ["queued", "done"]}}, {"state": {"$in": ["x"]}},
               {"at": {"$lt": day}}, {"state": "done", "at": {"$lt": day + datetime.timedelta(hours=2)}},
               {"state": None}, {"state": {"$in": ["done", None]}}, {"at": {"$lt": day}, "state": {"$ne": "done"}}]
    try:
        stored = [doc async for doc in things.find({})]
        for query in filters:
            found = sorted([doc["_id"] async for doc in things.find(query)])
            # mongomock's own matching, document by document (dates as it stores them: naive UTC)
            naive = {key: ({op: arg.replace(tzinfo=None) for op, arg in value.items()}
                           if isinstance(value, dict) and isinstance(next(iter(value.values())), datetime.datetime)
                           else value) for key, value in query.items()}
            expected = sorted(doc["_id"] for doc in stored
                              if filtering.filter_applies(naive, {k: _naive(v) for k, v in doc.items()}))
            assert found == expected, query
        assert sorted([doc["_id"] async for doc in things.find({"state": "queued"})]) == [0, 3, 101]
        assert [doc["_id"] async for doc in things.find({"at": {"$lt": day}})]
    finally:
        await database.drop()
        database.close()


def _naive(value):
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, list):
        return [_naive(item) for item in value]
    return value
