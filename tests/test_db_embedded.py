"""The embedded database's ``_id`` lookup: same answers as a scan, without the scan."""

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
    await coll.find_one({"state": "y"})  # other filters still scan everything
    assert len(calls) > 200
