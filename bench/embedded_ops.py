"""The embedded database's hot-path operations, with its shortcuts and with mongomock's own way.

Times, on the embedded database (mongomock), what one task costs it: the claim and the
result (``find_one_and_update`` by ``_id`` with ``$set``), the task's insert, an
audit-shaped ``insert_one``, and the archive (``move_finished``: find, copy into the
history, delete).  Each is run ``--count`` times on a database with the shortcuts of
``toolbox.store.embedded`` and on one where mongomock's own functions are put back, in
the same process, so the two columns are comparable; the answers are checked to agree.

    python -m bench.embedded_ops [--count 3000]
"""

import argparse
import asyncio
import contextlib
import datetime
import time
from collections.abc import Iterator
from typing import Any

from toolbox.core.task_history import move_finished
from toolbox.store.db import ReturnDocument, open_database

AT = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)


@contextlib.contextmanager
def mongomocks_own_way() -> Iterator[None]:
    """Put mongomock's own functions back in place of the one-pass update, the quicker
    copies and the quicker writes (for collections made inside), then the shortcuts again.
    The ``_id`` lookup (``install_id_lookup``, an earlier round) stays on both sides."""
    from mongomock import collection, helpers

    places = [(collection.Collection, name) for name in ("find_one_and_update", "_insert", "_delete",
                                                          "_copy_only_fields")]
    places += [(helpers, "patch_datetime_awareness_in_document"),
               (helpers, "make_datetime_timezone_aware_in_document"),
               (collection, "_copy_field"), (collection, "_recursive_key_check_null_character")]
    saved = [(owner, name, getattr(owner, name)) for owner, name in places]
    for owner, name, patched in saved:
        setattr(owner, name, patched.toolbox_original)
    try:
        yield
    finally:
        for owner, name, patched in saved:
            setattr(owner, name, patched)


async def one_side(db: Any, count: int) -> tuple[dict[str, float], list[Any]]:
    tasks, history, audit = db["tasks"], db["task_history"], db["audit"]
    await tasks.create_index([("agent", 1), ("state", 1)])
    await audit.create_index([("at", -1)])
    timings: dict[str, float] = {}
    answers: list[Any] = []

    def timed(name: str, started: float) -> None:
        timings[name] = 1e6 * (time.perf_counter() - started) / count

    started = time.perf_counter()
    for i in range(count):
        await tasks.insert_many([{"_id": i, "agent": f"a{i % 100}", "command": "echo ok", "state": "queued",
                                  "created_at": AT, "time_limit": 30.0}])
    timed("insert a task (insert_many of one)", started)
    started = time.perf_counter()
    for i in range(count):
        await audit.insert_one({"at": AT, "actor": "admin", "role": "admin", "action": "task.create",
                                "target": f"task {i}", "detail": {"agents": ["a1"], "command": "echo ok"},
                                "ip": "127.0.0.1"})
    timed("audit entry (insert_one)", started)
    started = time.perf_counter()
    for i in range(count):
        answers.append(await tasks.find_one_and_update(
            {"_id": i, "agent": f"a{i % 100}", "state": "queued"},
            {"$set": {"state": "dispatched", "dispatched_at": AT, "registration": "r1"}},
            return_document=ReturnDocument.AFTER))
    timed("claim (find_one_and_update)", started)
    started = time.perf_counter()
    for i in range(count):
        answers.append(await tasks.find_one_and_update(
            {"_id": i, "agent": f"a{i % 100}", "state": {"$in": ["dispatched", "lost"]}},
            {"$set": {"state": "done", "finished_at": AT, "result": "ok\n" * 20, "outcome": "ok",
                      "summary": "ok", "parsed": {"rtt_ms": [1.0, 2.0]}, "exit_code": 0}},
            return_document=ReturnDocument.AFTER))
    timed("result (find_one_and_update)", started)
    started = time.perf_counter()
    moved = 0
    while moved < count:
        moved += await move_finished(tasks, history)
    timed("archive (move_finished, per task)", started)
    answers.append([doc async for doc in history.find({}).sort("_id", 1)])
    await db.drop()
    db.close()
    return timings, answers


async def main(count: int) -> None:
    # Both opened first: opening installs the shortcuts (again, were they taken away).
    quick_db, own_db = (open_database(None, name=f"bench_embedded_ops_{side}") for side in ("quick", "own"))
    shortcuts, answers = await one_side(quick_db, count)
    with mongomocks_own_way():
        own, own_answers = await one_side(own_db, count)
    if answers != own_answers:
        raise SystemExit("the two ways gave different answers")
    print(f"embedded database, {count} of each, microseconds per operation (same answers both ways)")
    print(f"| {'operation':<36} | mongomock's way | with the shortcuts | ratio |")
    print(f"|{'-' * 38}|-----------------|--------------------|-------|")
    for name, before in own.items():
        after = shortcuts[name]
        print(f"| {name:<36} | {before:15.1f} | {after:18.1f} | {after / before:.2f}× |")


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000, help="operations of each kind (default 3000)")
    args = parser.parse_args(argv)
    if not 1 <= args.count <= 100000:
        parser.error("--count: 1 to 100000")
    asyncio.run(main(args.count))


if __name__ == "__main__":
    cli()
