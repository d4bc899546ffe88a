"""Scenario 7: database operations per task on the hot path, and the indexes they use.

An in-process toolBox (``make_app``) runs on a database wrapped in a counter that
records every collection call (method, filter shape, sort): the embedded database, or
with ``--store-uri`` a real MongoDB (the shared path: claims on the unique index, the
event bus's inserts, which show under "other collections").  One agent, real HTTP
on 127.0.0.1: for each task, ``POST /api/tasks`` → the parked fetch is answered →
``POST /agent/task`` → the agent parks again.  A ``find_one_and_update`` that
matches nothing (the claim made when a fetch parks) writes nothing and counts as a
read.  The sweeper's archive is counted apart (it batches, off the hot path).

On the embedded database the tasks live in the in-memory repository
(``toolbox.store.repos.tasks_memory``): no collection call is made for them, and what is
counted is what still goes to mongomock (the id block's counter, the audit log).  The
figures that say something about queries and indexes are the shared path's.
"""

import asyncio
import collections

from bench.httpc import HTTPConnection, fetch_path, result_body

READS = {"find", "find_one", "count_documents", "aggregate", "distinct"}
WRITES = {"insert_one", "insert_many", "update_one", "update_many", "replace_one", "delete_one",
          "delete_many", "find_one_and_update", "find_one_and_replace", "find_one_and_delete",
          "bulk_write"}
RANGE_OPS = {"$lt", "$lte", "$gt", "$gte", "$ne", "$nin", "$exists"}


class Counter:
    def __init__(self):
        self.ops = []
        self.indexes = collections.defaultdict(list)  # collection -> [[key, ...], ...]

    def reset(self):
        self.ops = []


def _shape(query):
    """(equality keys, range keys) of a filter; ``$in`` counts as equality (index bounds)."""
    equal, ranged = [], []
    for key, value in (query or {}).items():
        if isinstance(value, dict) and any(op in RANGE_OPS for op in value):
            ranged.append(key)
        else:
            equal.append(key)
    return tuple(sorted(equal)), tuple(sorted(ranged))


class CountingCollection:
    def __init__(self, collection, name, counter):
        self._collection, self._name, self._counter = collection, name, counter

    def _record(self, method, query=None, sort=None, matched=True):
        equal, ranged = _shape(query)
        kind = "write" if method in WRITES and matched else "read" if method in READS | WRITES else "other"
        sort_keys = tuple(key for key, _ in (sort or []))
        self._counter.ops.append({"collection": self._name, "method": method, "kind": kind,
                                  "equal": equal, "range": ranged, "sort": sort_keys})

    def __getattr__(self, name):
        attr = getattr(self._collection, name)
        if name in ("create_indexes", "create_index"):
            return self._indexes(attr, name)
        if name == "find":
            def find(query=None, *args, **kwargs):
                self._record("find", query, kwargs.get("sort"))
                return attr(query, *args, **kwargs)
            return find
        if name in READS | WRITES:
            async def call(*args, **kwargs):
                result = await attr(*args, **kwargs)
                query = args[0] if args and name not in ("insert_one", "insert_many") else kwargs.get("filter")
                matched = not (name.startswith("find_one_and") and result is None)
                self._record(name, query, kwargs.get("sort"), matched)
                return result
            return call
        return attr

    def _indexes(self, attr, name):
        async def create(models, *args, **kwargs):
            models = models if name == "create_indexes" else [models]
            kept = []
            for model in models:
                keys = model.document["key"] if hasattr(model, "document") else model
                self._counter.indexes[self._name].append([key for key, _ in dict(keys).items()])
                # mongomock ignores partial filters: a unique partial index (one task in
                # flight per agent) would refuse every second queued task.  Recorded as
                # declared, not created; the measured agent never has two tasks in flight.
                document = getattr(model, "document", {})
                if not (document.get("unique") and "partialFilterExpression" in document):
                    kept.append(model)
            if name == "create_index":
                return await attr(*kept, *args, **kwargs) if kept else None
            return await attr(kept, *args, **kwargs) if kept else []
        return create


class CountingDatabase:
    """Wraps ``toolbox.store.db.Database``: collections come back wrapped in a counter.

    Everything else (embedded or not, its cluster time) is the wrapped database's, so
    toolBox takes the same path it takes on that database.
    """

    def __init__(self, database, counter):
        self._database, self._counter = database, counter

    def __getitem__(self, name):
        return CountingCollection(self._database[name], name, self._counter)

    def __getattr__(self, name):
        return getattr(self._database, name)


def uses_index(op, indexes):
    """Whether a real MongoDB would serve this query from a declared index (or _id)."""
    equal, ranged, sort = set(op["equal"]), set(op["range"]), list(op["sort"])
    if "_id" in equal:
        return True
    for keys in indexes:
        prefix = keys[:len(equal)]
        if set(prefix) != equal:
            continue
        rest = keys[len(equal):]
        if sort and rest[:len(sort)] != sort:
            continue
        if ranged and not ranged <= set(rest[:len(sort) + len(ranged)]):
            continue
        return True
    return False


async def _measure(tasks, uri=None):
    import uuid

    from toolbox.handlers import routes
    from toolbox.server.app import make_app
    from toolbox.server.config import Config
    from toolbox.store.db import open_database

    counter = Counter()
    admin = "bench-store-admin-token-0123456789"
    config = Config(admin_token=admin, secret="bench-secret-" + "x" * 32, poll_timeout=60,
                    sweep_interval=3600, mongodb_uri=uri)
    database = open_database(uri, name=f"toolbox_store_{uuid.uuid4().hex[:8]}" if uri else None)
    app = make_app(config, db=CountingDatabase(database, counter), routes=routes())
    await app.toolbox.start()
    server = app.listen(0, "127.0.0.1")
    port = next(iter(server._sockets.values())).getsockname()[1]
    auth = {"Authorization": f"Bearer {admin}"}
    try:
        control = await HTTPConnection.open("127.0.0.1", port)
        _, body = await control.json("POST", "/api/agents", auth, {"name": "store-agent"})
        agent_auth = {"Authorization": body["token"]}
        agent = await HTTPConnection.open("127.0.0.1", port)
        dispatcher = app.toolbox.dispatcher

        async def park():
            agent.send("GET", fetch_path("store-agent"), agent_auth)
            for _ in range(500):
                parked = dispatcher.parked.get("store-agent")
                if parked is not None and not parked.future.done():
                    return
                await asyncio.sleep(0.002)
            raise RuntimeError("the fetch did not park")

        await park()
        counter.reset()
        for _ in range(tasks):
            status, _ = await control.json("POST", "/api/tasks", auth, {"agents": ["store-agent"], "command": "echo"})
            assert status == 201, status
            status, raw = await agent.response()
            task_id = __import__("json").loads(raw)["task_id"]
            assert status == 200 and task_id, raw
            status, _ = await agent.request("POST", "/agent/task", agent_auth, result_body("store-agent", task_id))
            assert status == 200, status
            await park()
        hot = list(counter.ops)
        counter.reset()
        await app.toolbox.tasks.archive()
        archive = list(counter.ops)
        agent.close()
        control.close()
    finally:
        server.stop()
        await app.toolbox.stop()
        if uri:
            await database.drop()
        database.close()
    return dict(_summarize(hot, archive, counter.indexes, tasks, config.id_block),
                database="shared MongoDB" if uri else "embedded")


def _summarize(hot, archive, indexes, tasks, id_block):
    per = collections.Counter()
    for op in hot:
        per[(op["collection"], op["method"], op["kind"])] += 1
    task_path = [op for op in hot if op["collection"] == "tasks"]
    shapes, indexed, unindexed = set(), 0, []
    for op in hot:
        if op["method"].startswith("insert"):
            continue
        shape = (op["collection"], op["method"], op["equal"], op["range"], op["sort"])
        if shape in shapes:
            continue
        shapes.add(shape)
        if uses_index(op, indexes.get(op["collection"], [])):
            indexed += 1
        else:
            unindexed.append(shape)
    writes = sum(1 for op in task_path if op["kind"] == "write") / tasks
    reads = sum(1 for op in task_path if op["kind"] == "read") / tasks
    other = {f"{coll}.{method} ({kind})": count / tasks for (coll, method, kind), count in per.items()
             if coll != "tasks"}
    return {"tasks": tasks, "writes_per_task": writes, "reads_per_task": reads,
            "per_call": {f"{c}.{m} ({k})": n / tasks for (c, m, k), n in sorted(per.items())},
            "other_collections": other, "shapes": len(shapes), "indexed": indexed,
            "unindexed": [list(map(str, shape)) for shape in unindexed],
            "archive_ops_per_task": len(archive) / tasks,
            "declared_indexes": {k: v for k, v in indexes.items()},
            "extra_note": ", ".join(f"{name} {count:.2g}" for name, count in sorted(other.items()))
            or "none", "id_block": id_block}


def measure(tasks, uri=None):
    """Run the store-cost scenario for ``tasks`` tasks on the embedded database, or on the
    MongoDB at ``uri`` (a replica set: the shared path, event bus included); its figures."""
    return asyncio.run(_measure(tasks, uri))
