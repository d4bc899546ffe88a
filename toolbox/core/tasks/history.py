"""Task history: finished tasks leave the live ``tasks`` collection for ``task_history``.

``TaskService.archive`` (run by the sweeper) calls ``move_finished``, then the history
repository's ``prune`` when something moved.  Live tasks stay few whatever the
history's size, so the hot path's queries stay small.
"""

import asyncio

from toolbox.store.repos.task_history import History
from toolbox.store.repos.tasks_memory import Tasks

ARCHIVE_BATCH = 1000
ARCHIVE_SLICE = 100  # tasks moved between two turns of the event loop


async def move_finished(live: Tasks, history: History) -> int:
    """Move finished tasks from ``live`` to ``history``; return how many moved.

    Copy first, then delete only what still has the state that was copied: a task
    that changed meanwhile (a late result for a lost task) is copied again next time.
    The batch moves ``ARCHIVE_SLICE`` tasks at a time, the event loop free in between:
    on a shared database each slice is three round trips, and a fleet-wide job finishes
    thousands within a second (one pause would hold up every fetch and console meanwhile).
    """
    ids = await live.finished_ids(ARCHIVE_BATCH)
    moved = 0
    for start in range(0, len(ids), ARCHIVE_SLICE):
        if start:
            await asyncio.sleep(0)
        docs = await live.finished(ids[start:start + ARCHIVE_SLICE])
        if not docs:
            continue
        await history.insert_copies(docs)
        await live.delete_unchanged(docs)
        moved += len(docs)
    return moved
