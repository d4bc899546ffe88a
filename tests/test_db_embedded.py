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


@pytest.fixture
def filter_calls(monkeypatch):
    """A list that grows by one at each call of mongomock's ``filter_applies`` (one
    document tested against a filter)."""
    calls = []
    real = filtering.filter_applies
    counting = lambda *a, **k: calls.append(1) or real(*a, **k)  # noqa: E731
    monkeypatch.setattr(filtering, "filter_applies", counting)
    monkeypatch.setattr(collection, "filter_applies", counting)  # the scan's own import
    return calls


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
async def test_lookup_by_id_does_not_scan(coll, filter_calls):
    calls = filter_calls
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
              day, day - datetime.timedelta(hours=1), day + datetime.timedelta(seconds=1), [day],
              3, 8, True, 7.5, [2, 9], -1]
    docs = [{"_id": i, "state": value, "at": values[(i * 5 + 3) % len(values)]}
            for i, value in enumerate(values)] + [{"_id": 100}, {"_id": 101, "state": "queued"}]
    await things.insert_many(docs)
    filters = [{"state": "queued"}, {"state": {"$in": ["queued", "done"]}}, {"state": {"$in": ["x"]}},
               {"at": {"$lt": day}}, {"state": "done", "at": {"$lt": day + datetime.timedelta(hours=2)}},
               {"state": None}, {"state": {"$in": ["done", None]}}, {"at": {"$lt": day}, "state": {"$ne": "done"}},
               {"state": {"$lte": 7}}, {"state": {"$lt": 7}}, {"state": {"$gt": 3}}, {"state": {"$gte": 8}},
               {"_id": {"$lte": 5}}, {"_id": {"$gt": 100}}, {"state": {"$lte": 1}}, {"state": {"$gte": -1}, "_id": {"$lt": 9}}]
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
        assert sorted([doc["_id"] async for doc in things.find({"state": {"$lte": 7}})]) == [6, 13, 17, 18]  # 7, 3, [2, 9], -1
        assert sorted([doc["_id"] async for doc in things.find({"state": {"$gt": 7}})]) == [14, 16, 17]  # 8, 7.5, [2, 9]
        assert [doc["_id"] async for doc in things.find({"at": {"$lt": day}})]
    finally:
        await database.drop()
        database.close()


@pytest.mark.gen_test
async def test_the_id_projection_gives_mongomocks_answers(coll, monkeypatch):
    projections = [{"_id": 1}, {"_id": True}, {"_id": 1.0}, {"_id": 0}, {"state": 1}, {"_id": 1, "state": 1}, None]
    queries = [{"_id": {"$in": [3, 4, "name"]}}, {"state": "queued"}, {}]

    async def every_answer():
        answers = []
        for query in queries:
            answers.append([await coll.find(query, projection).to_list(None) for projection in projections])
        return answers

    quick = await every_answer()
    patched = collection.Collection._copy_only_fields
    assert patched.toolbox_copies
    monkeypatch.setattr(collection.Collection, "_copy_only_fields", patched.toolbox_original)
    own = await every_answer()
    assert quick == own
    assert quick[0][0] == [{"_id": 3}, {"_id": 4}, {"_id": "name"}]


def _naive(value):
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, list):
        return [_naive(item) for item in value]
    return value


AT = datetime.datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=datetime.timezone.utc)

# (filter, update, options): the shapes the one-pass update takes, and some it leaves to mongomock
SET_CASES = [
    ({"_id": 1, "state": "queued"}, {"$set": {"state": "dispatched", "at": AT, "who": "r1"}}, {"return_document": ReturnDocument.AFTER}),
    ({"_id": 1, "state": "queued"}, {"$set": {"state": "x"}}, {"return_document": ReturnDocument.AFTER}),  # no longer queued
    ({"_id": 2, "state": {"$in": ["queued", "lost"]}}, {"$set": {"state": "done", "parsed": {"rtt": [1.5, AT]}, "n": None}}, {}),
    ({"_id": 3, "at": {"$lt": AT}}, {"$set": {"seen": AT.replace(tzinfo=None)}}, {"return_document": ReturnDocument.AFTER}),
    ({"_id": 3, "seen": AT}, {"$set": {"hit": True}}, {"return_document": ReturnDocument.AFTER}),  # stored at ms precision
    ({"_id": 999}, {"$set": {"state": "x"}}, {"return_document": ReturnDocument.AFTER}),  # no such document
    ({"_id": "name"}, {"$set": {"tags": ["a", {"b": AT}]}}, {"return_document": ReturnDocument.AFTER}),
    ({"_id": 4}, {"$set": {"key": "taken"}}, {}),  # duplicate of 5's unique key: refused, 4 unchanged
    ({"_id": 4, "key": {"$exists": False}}, {"$set": {"kept": 1}}, {"return_document": ReturnDocument.AFTER}),
    ({"_id": 4}, {"$set": {"key": "free", "state": "moved"}}, {"return_document": ReturnDocument.AFTER}),
    ({"_id": 6}, {"$inc": {"n": 2}, "$set": {"state": "y"}}, {"return_document": ReturnDocument.AFTER}),  # mongomock's path
    ({"_id": 6}, {"$set": {"deep.field": 1}}, {"return_document": ReturnDocument.AFTER}),
    ({"_id": 6}, {"$set": {"state": "z"}}, {"projection": {"state": 1}, "return_document": ReturnDocument.AFTER}),
    ({"state": "done"}, {"$set": {"state": "again"}}, {"return_document": ReturnDocument.AFTER}),  # not by _id
    ({"_id": 7, "state": {"$bad": 1}}, {"$set": {"state": "x"}}, {}),  # a bad operator
]


async def _run_set_cases(database):
    things = database["things"]
    await things.create_index([("key", 1)], unique=True, sparse=True)
    await things.insert_many([{"_id": i, "state": "queued" if i % 2 else "done", "at": AT - datetime.timedelta(days=i),
                               "n": i} for i in range(1, 8)] + [{"_id": "name", "state": "x"}])
    await things.update_one({"_id": 5}, {"$set": {"key": "taken"}})
    answers = []
    for query, update, options in SET_CASES:
        try:
            answers.append(await things.find_one_and_update(query, update, **options))
        except Exception as error:
            answers.append(type(error).__name__)
    return answers, [doc async for doc in things.find({})]


@pytest.mark.gen_test
async def test_set_by_id_gives_mongomocks_answers_and_documents(monkeypatch):
    fast_db = open_database(None, name="test_set_by_id_fast")
    slow_db = open_database(None, name="test_set_by_id_slow")
    try:
        fast = await _run_set_cases(fast_db)
        patched = collection.Collection.find_one_and_update
        assert patched.toolbox_set_by_id
        monkeypatch.setattr(collection.Collection, "find_one_and_update", patched.toolbox_original)
        slow = await _run_set_cases(slow_db)
    finally:
        for database in (fast_db, slow_db):
            await database.drop()
            database.close()
    for case, fast_answer, slow_answer in zip(SET_CASES, fast[0], slow[0]):
        assert fast_answer == slow_answer, case
    assert fast[1] == slow[1]  # the documents stored in the end
    answers = fast[0]
    assert answers[0]["at"] == AT.replace(microsecond=891000) and answers[0]["at"].tzinfo is not None
    assert answers[1] is None and answers[5] is None
    assert answers[4]["hit"] is True  # the date was stored at millisecond precision
    assert answers[7] == "DuplicateKeyError" and "key" not in answers[8] and answers[9]["key"] == "free"
    assert answers[14] == "OperationFailure"


@pytest.mark.gen_test
async def test_set_by_id_refuses_a_bad_operator_with_no_document_to_test(coll):
    """As MongoDB does; mongomock's scan (and the ``_id`` lookup) only check a filter they apply."""
    from mongomock import OperationFailure

    with pytest.raises(OperationFailure):
        await coll.find_one_and_update({"_id": 998, "state": {"$bad": 1}}, {"$set": {"state": "x"}})


@pytest.mark.gen_test
async def test_set_by_id_keeps_no_reference_to_what_it_was_given_or_returned(coll):
    tags = ["a", {"b": 1}]
    answer = await coll.find_one_and_update({"_id": 11}, {"$set": {"tags": tags}}, return_document=ReturnDocument.AFTER)
    tags.append("later")
    tags[1]["b"] = 2
    answer["tags"].append("mine")
    answer["state"] = "mine"
    assert await coll.find_one({"_id": 11}) == {"_id": 11, "state": "queued", "tags": ["a", {"b": 1}]}


@pytest.mark.gen_test
async def test_set_by_id_refuses_a_value_bson_cannot_hold_and_changes_nothing(coll):
    from bson.errors import InvalidDocument

    with pytest.raises(InvalidDocument):
        await coll.find_one_and_update({"_id": 13}, {"$set": {"state": "done", "bad": object()}})
    assert await coll.find_one({"_id": 13}) == {"_id": 13, "state": "queued"}


@pytest.mark.gen_test
async def test_set_by_id_does_not_scan(coll, filter_calls):
    calls = filter_calls
    assert await coll.find_one_and_update({"_id": 15, "state": "queued"}, {"$set": {"state": "done"}})
    assert len(calls) == 1  # the rest of the filter, on document 15 alone


def _shapes():
    """Values of every kind mongomock walks: plain, nested, subclassed, dated."""
    import collections as stdlib_collections

    from bson import SON, Decimal128, ObjectId, Regex

    naive = datetime.datetime(2026, 1, 2, 3, 4, 5, 678901)
    aware = naive.replace(tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    leaves = ["s", "", 7, 2.5, True, None, b"raw", naive, aware, ObjectId("0123456789ab0123456789ab"),
              Decimal128("1.5"), Regex("^a"), datetime.timezone.utc]
    return [*leaves, list(leaves), tuple(leaves), {"k": leaves, "d": {"at": aware, "n": [1, {"x": naive}]}},
            stdlib_collections.OrderedDict([("b", aware), ("a", [naive])]), SON([("z", 1), ("y", {"w": naive})]),
            {"deep": [[{"a": [aware, (naive, "t")]}]]}, [], {}]


def _same(left, right):
    """Equal, of the same types all the way down (an aware date equals its naive UTC twin otherwise)."""
    assert type(left) is type(right), (left, right)
    if isinstance(left, dict):
        assert list(left) == list(right)
        for key in left:
            _same(left[key], right[key])
    elif isinstance(left, (list, tuple)):
        assert len(left) == len(right)
        for a, b in zip(left, right):
            _same(a, b)
    else:
        assert left == right and getattr(left, "tzinfo", None) == getattr(right, "tzinfo", None)


def _no_shared_containers(copy, original):
    if isinstance(original, (dict, list)):
        assert copy is not original
        for a, b in zip(copy.values() if isinstance(copy, dict) else copy,
                        original.values() if isinstance(original, dict) else original):
            _no_shared_containers(a, b)


def test_the_quicker_walks_give_mongomocks_values(monkeypatch):
    import collections as stdlib_collections

    from bson import SON
    from mongomock import helpers

    open_database(None, name="test_walks").close()  # installs the patches
    containers = (dict, stdlib_collections.OrderedDict, SON)
    quick = {name: getattr(helpers, name) for name in ("patch_datetime_awareness_in_document",
                                                        "make_datetime_timezone_aware_in_document")}
    quick_copy = collection._copy_field
    assert all(function.toolbox_copies for function in (*quick.values(), quick_copy))
    answers = {name: [function(value) for value in _shapes()] for name, function in quick.items()}
    copies = [[quick_copy(value, container) for value in _shapes()] for container in containers]
    with monkeypatch.context() as undo:  # mongomock's own functions, their recursion included
        for name, function in quick.items():
            undo.setattr(helpers, name, function.toolbox_original)
        undo.setattr(collection, "_copy_field", quick_copy.toolbox_original)
        expected = {name: [getattr(helpers, name)(value) for value in _shapes()] for name in quick}
        expected_copies = [[collection._copy_field(value, container) for value in _shapes()]
                           for container in containers]
    for name in quick:
        for got, want in zip(answers[name], expected[name]):
            _same(got, want)
    for got_row, want_row in zip(copies, expected_copies):
        for got, want, value in zip(got_row, want_row, _shapes()):
            _same(got, want)
    for container in containers:
        for value in _shapes():
            _no_shared_containers(quick_copy(value, container), value)


async def _run_writes(database):
    """Inserts and deletes of every shape, good and bad; each answer (or error) and what is left."""
    from bson import ObjectId

    things = database["things"]
    await things.create_index([("key", 1)], unique=True, sparse=True)
    given = {"state": "new", "at": AT}
    steps = [
        lambda: things.insert_one(given),  # no _id: one is added to the caller's dict
        lambda: things.insert_one({"_id": 1, "state": "queued", "nested": {"at": AT, "list": [AT, {"x": 1}]}}),
        lambda: things.insert_one({"_id": 1, "state": "again"}),  # duplicate _id
        lambda: things.insert_one({"_id": {"compound": 1}, "state": "queued"}),
        lambda: things.insert_one({"_id": {"compound": 1}, "state": "again"}),
        lambda: things.insert_one({"_id": 2, "key": "k", "state": "done"}),
        lambda: things.insert_one({"_id": 3, "key": "k", "state": "done"}),  # unique index: refused, not kept
        lambda: things.insert_one({"_id": 4, "bad": {"nul\0key": 1}}),
        lambda: things.insert_one({"_id": 5, "$top": 1}),
        lambda: things.insert_one({"_id": 6, 7: "int key"}),
        lambda: things.insert_one({"_id": 8, "value": object()}),
        lambda: things.insert_many([{"_id": 10, "state": "queued"}, {"_id": 1}, {"_id": 11, "state": "queued"}]),
        lambda: things.insert_many([{"_id": 12, "state": "done"}, {"_id": 1}, {"_id": 13, "state": "done"}],
                                   ordered=False),
        lambda: things.insert_one({"_id": ObjectId("0123456789ab0123456789ab"), "state": "done"}),
        lambda: things.delete_one({"state": "done"}),  # the first in the store's order
        lambda: things.delete_many({"state": {"$in": ["done", "x"]}, "_id": {"$ne": 13}}),
        lambda: things.delete_many({"_id": {"$in": [10, 11, 999]}}),
        lambda: things.delete_one({"_id": {"compound": 1}}),
        lambda: things.delete_many({"nested.at": AT}),
        lambda: things.delete_many({"state": {"$bad": 1}}),
        lambda: things.delete_many({"state": "nothing like it"}),
    ]
    answers = []
    for step in steps:
        try:
            result = await step()
            answers.append(getattr(result, "deleted_count", None) if hasattr(result, "deleted_count")
                           else getattr(result, "inserted_id", None) or getattr(result, "inserted_ids", None))
        except Exception as error:
            answers.append((type(error).__name__, str((getattr(error, "details", None) or {}).get("nInserted", ""))))
    answers[0] = type(answers[0]).__name__ if answers[0] == given.get("_id") else "not the _id given back"
    left = [dict(doc, _id="generated") if doc["_id"] == given["_id"] else doc async for doc in things.find({})]
    return answers, left


@pytest.mark.gen_test
async def test_quicker_writes_give_mongomocks_answers_and_documents(monkeypatch):
    quick = {name: getattr(collection.Collection, name) for name in ("_insert", "_delete")}
    assert all(function.toolbox_writes for function in quick.values())
    fast_db = open_database(None, name="test_writes_fast")
    slow_db = open_database(None, name="test_writes_slow")
    try:
        fast = await _run_writes(fast_db)
        for name, function in quick.items():
            monkeypatch.setattr(collection.Collection, name, function.toolbox_original)
        monkeypatch.setattr(collection, "_recursive_key_check_null_character",
                            collection._recursive_key_check_null_character.toolbox_original)
        slow = await _run_writes(slow_db)  # its collection is made now, around mongomock's own methods
    finally:
        for database in (fast_db, slow_db):
            await database.drop()
            database.close()
    for position, (got, want) in enumerate(zip(fast[0], slow[0])):
        assert got == want, position
    assert fast[1] == slow[1]
    assert fast[0][0] == "ObjectId" and fast[0][6] == ("DuplicateKeyError", "")
    assert fast[0][11] == ("BulkWriteError", "1") and fast[0][12] == ("BulkWriteError", "2")
    assert [doc["_id"] for doc in fast[1]] == ["generated", 13]
