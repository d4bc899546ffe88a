"""Events across server processes on one MongoDB: written to ``events``, read back by a change stream.

With several ``toolbox`` processes on one database, a console connected to one of them
must see what happens on all of them, and a task queued by one must wake an agent
parked on another.  ``MongoBus`` has ``EventHub``'s interface (``toolbox.core.events.hub``):

- ``publish`` hands the event to this process's service listeners at once (job
  counting, the dispatcher, caches keep their synchronous view of their own events)
  and queues it for the database.  Queued events are written in order, as one
  ``insert_many`` per loop turn, by one writer per process;
- one change stream per process (MongoDB's own way to follow writes; it needs a
  replica set, a single node is enough) reads every event back, from every process,
  in the database's order.  Each event takes its sequence number from the insert's
  cluster time (``seq_of``): the same number on every process, growing, so ``since``
  resumes a console on any process.  The feed (consoles) gets every
  event from the stream; the service listeners get the other processes' events.

Chosen over a capped collection with tailable cursors (no ordering across processes
without a second counter) and over deriving events from changes to ``tasks`` and
``jobs`` (events that are no document change — agents going offline, cache
invalidations — would need a second path).  It costs one insert per loop turn that
published something, not one per event.  Events older than ``retention`` seconds are
deleted by the sweeper (``prune``).
"""

import asyncio
import logging
import time
import uuid
from typing import Any

from toolbox.store.db import BulkWriteError, Doc, InvalidDocument, PyMongoError, encodable
from toolbox.core.events.hub import Event, EventHub, FeedBuffer, HubListeners
from toolbox.store.repos.events import EventRepo

log = logging.getLogger("toolbox.bus")

WRITE_BATCH = 1000
MAX_OUTBOX = 100_000  # events waiting for the database; beyond, the oldest are dropped (logged)
RETRY_SECONDS = 0.5
PRUNE_EVERY = 30.0


def _encodable(doc: Doc) -> bool:
    if encodable(doc):
        return True
    log.error("event %s cannot be stored; dropped", doc.get("type"))
    return False


SEQ_EPOCH = 1_700_000_000  # 2023-11-14: keeps sequence numbers small
SEQ_PER_SECOND = 1_000_000


def seq_of(timestamp: Any) -> int:
    """A BSON Timestamp as one growing integer: seconds since ``SEQ_EPOCH`` × 10⁶ + increment.

    Below 2**53 for centuries, so the console's JavaScript reads it exactly.  It stays
    unique while the database writes fewer than a million oplog entries in one second.
    """
    return (timestamp.time - SEQ_EPOCH) * SEQ_PER_SECOND + timestamp.inc


class MongoBus(HubListeners):
    """Publish events to every server process on the database; follow theirs."""

    def __init__(self, repo: EventRepo, buffer_size: int = 10000, retention: float = 600.0) -> None:
        self.repo = repo
        self.origin = uuid.uuid4().hex  # this process, in the events it writes
        self.retention = retention
        super().__init__(buffer_size)
        self._outbox: list[Doc] = []
        self._writer: asyncio.Future[None] | None = None
        self._watcher: asyncio.Future[None] | None = None
        self._published = 0  # events of this process queued so far
        self._echoed = 0  # of them, read back from the stream
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []  # (published count, future) for caught_up()
        self._pruned_at = 0.0

    # --- the EventHub interface ---

    def publish(self, event_type: str, data: Any, feed: bool = True) -> Event:
        """Hand the event to this process's services now; queue it for every process."""
        event = {"seq": None, "type": event_type, "at": time.time(), "data": data}
        self.in_order(self._hand_out, (event, feed))
        return event

    def _hand_out(self, published: tuple[Event, bool]) -> None:
        event, feed = published
        self.listeners(event)
        if len(self._outbox) >= MAX_OUTBOX:
            dropped = self._outbox.pop(0)
            log.error("the database is not taking events; dropped %s", dropped["type"])
        self._outbox.append({"type": event["type"], "at": event["at"], "data": event["data"],
                             "origin": self.origin, "feed": feed})
        self._published += 1
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write())

    async def caught_up(self) -> None:
        """Wait until every event this process published so far came back from the stream."""
        if self._echoed >= self._published:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((self._published, future))
        await future

    # --- life ---

    async def start(self) -> None:
        """Open the change stream from now on (so nothing written after start is missed)."""
        await self.repo.ensure_indexes()
        now = await self.repo.cluster_time()
        self.feed = FeedBuffer(self.feed.events.maxlen, start=seq_of(now))
        opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._watcher = asyncio.ensure_future(self._watch(now, opened))
        await opened

    async def stop(self) -> None:
        """Write what is queued, then stop following."""
        if self._writer is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._writer), 5)
            except (asyncio.TimeoutError, PyMongoError):
                log.warning("%d events were not written before the stop", len(self._outbox))
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
            self._watcher = None

    async def prune(self) -> int:
        """Delete events older than ``retention`` (every ``PRUNE_EVERY`` seconds at most)."""
        now = time.time()
        if now - self._pruned_at < PRUNE_EVERY:
            return 0
        self._pruned_at = now
        return await self.repo.prune(now - self.retention)

    # --- writing and following ---

    async def _write(self) -> None:
        """Insert queued events in order, a batch at a time, until none is left."""
        while self._outbox:
            batch = self._outbox[:WRITE_BATCH]
            try:
                await self.repo.insert(batch)
            except BulkWriteError as error:
                # Ordered: what precedes the first error is written.  A duplicate _id
                # there means an earlier, interrupted try wrote that event already.
                errors = error.details.get("writeErrors") or [{}]
                written = error.details.get("nInserted", 0)
                if errors[0].get("code") == 11000:
                    del self._outbox[:errors[0]["index"] + 1]
                    continue
                del self._outbox[:written]
                log.error("an event cannot be stored (%s); dropped", errors[0].get("errmsg"))
                del self._outbox[:1]
                continue
            except PyMongoError as error:
                log.warning("writing %d events failed (%s); retrying in %gs", len(batch), error,
                            RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            except (InvalidDocument, TypeError, ValueError):  # one cannot be encoded: find it
                self._outbox[:len(batch)] = [doc for doc in batch if _encodable(doc)]
                continue
            del self._outbox[:len(batch)]

    async def _watch(self, start: Any, opened: asyncio.Future[None]) -> None:
        """Follow the ``events`` inserts from ``start``; resume after errors where it left off."""
        resume: Any = None
        while True:
            try:
                options = {"resume_after": resume} if resume else {"start_at_operation_time": start}
                async with self.repo.inserts(**options) as stream:
                    if not opened.done():
                        opened.set_result(None)
                    async for change in stream:
                        resume = change["_id"]
                        self._deliver(change)
            except asyncio.CancelledError:
                raise
            except PyMongoError as error:
                if not opened.done():
                    opened.set_exception(error)
                    return
                log.warning("the event stream failed (%s); resuming in %gs", error, RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)

    def _deliver(self, change: Doc) -> None:
        doc = change["fullDocument"]
        event = {"seq": seq_of(change["clusterTime"]), "type": doc["type"], "at": doc["at"],
                 "data": doc["data"]}
        if doc.get("feed", True):
            self.feed.append(event)
            self.feed_listeners(event)
        if doc.get("origin") == self.origin:
            self._echoed += 1
            while self._waiters and self._waiters[0][0] <= self._echoed:
                _, future = self._waiters.pop(0)
                if not future.done():
                    future.set_result(None)
        else:
            self.in_order(self.listeners, dict(event, remote=True))


# Either hub: what the services are handed as ``events``.
Hub = EventHub | MongoBus
