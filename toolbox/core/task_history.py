"""Task history: finished tasks leave the live ``tasks`` collection for ``task_history``.

``TaskService.archive`` (run by the sweeper) calls ``move_finished``, then ``prune`` when
something moved.  Live tasks stay few whatever the history's size, so the hot path's
queries stay small.
"""

import asyncio

from toolbox.store.db import DESCENDING, BulkWriteError, Collection
from toolbox.task_states import TERMINAL_STATES

ARCHIVE_BATCH = 1000
ARCHIVE_SLICE = 100  # tasks moved between two turns of the event loop


async def move_finished(unfinished: Collection, history: Collection) -> int:
    """Move finished tasks from ``unfinished`` to ``history``; return how many moved.

    Copy first, then delete only what still has the state that was copied: a task
    that changed meanwhile (a late result for a lost task) is copied again next time.
    The batch moves ``ARCHIVE_SLICE`` tasks at a time, the event loop free in between:
    on the embedded database a task costs some 100 µs to copy, insert and delete, and
    a fleet-wide job finishes thousands within a second (one pause would hold up every
    fetch and console meanwhile).
    """
    finished = {"$in": list(TERMINAL_STATES)}
    found = await unfinished.find({"state": finished}, {"_id": 1}).to_list(ARCHIVE_BATCH)
    ids = [doc["_id"] for doc in found]
    moved = 0
    for start in range(0, len(ids), ARCHIVE_SLICE):
        if start:
            await asyncio.sleep(0)
        docs = await unfinished.find({"_id": {"$in": ids[start:start + ARCHIVE_SLICE]},
                                     "state": finished}).to_list(ARCHIVE_SLICE)
        if not docs:
            continue
        try:
            await history.insert_many(docs, ordered=False)
        except BulkWriteError as error:
            failed = {e["index"] for e in error.details.get("writeErrors", [])}
            for position in sorted(failed):  # copied before by an interrupted archive
                doc = docs[position]
                await history.replace_one({"_id": doc["_id"]}, doc, upsert=True)
        by_state: dict[str, list[int]] = {}
        for doc in docs:
            by_state.setdefault(doc["state"], []).append(doc["_id"])
        for state, same in by_state.items():
            await unfinished.delete_many({"_id": {"$in": same}, "state": state})
        moved += len(docs)
    return moved


async def prune(history: Collection, limit: int) -> int:
    """Keep about ``history_limit`` finished tasks (0 = keep all): at most a tenth more."""
    if not limit:
        return 0
    # Prune in steps: finding the cut-off sorts the history (a scan on the embedded
    # database), so wait until it has grown a tenth past the limit.
    slack = max(1, limit // 10)
    if await history.estimated_document_count() <= limit + slack - 1:
        return 0
    cursor = history.find({}, {"_id": 1}).sort("_id", DESCENDING).skip(limit).limit(1)
    oldest_kept = await cursor.to_list(1)
    if not oldest_kept:
        return 0
    result = await history.delete_many({"_id": {"$lte": oldest_kept[0]["_id"]}})
    return result.deleted_count
