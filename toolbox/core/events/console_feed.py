"""The live feed behind ``/api/ws``: every hub event, to every open console, in order.

``ConsoleFeed`` listens to the ``EventHub`` and fans each event out to its clients.  The
publish path never waits for a client: each event is serialized once and offered to
every client, which hands it to its socket at once when nothing is being written, else
keeps it on its own bounded queue; when a batch's writes have completed, the next batch
goes (what has queued up, at most ``WRITE_BATCH`` messages, each its own websocket
message, in order, in one write to the socket where the connection offers ``send_many``), so at most one batch per client sits in Tornado's buffer and a
client is not held to one message per event-loop iteration (docs/benchmarks.md).  A
client whose queue overflows (it reads slower than events arrive, or not at all) is
dropped: its socket is closed with code 1013 and it may reconnect with ``since`` to get
what it missed.

``task.output`` events (a running task's output so far, a few a second per task) are
merged per client: while one of a task's is still waiting in a client's queue, a newer one
takes its place (and keeps its position), so a slow console holds at most one per running
task and is not dropped for them.

A connection starts with ``{"type": "hello", "seq": CURRENT}``.  With ``since=SEQ`` the
missed events follow (oldest first), then live ones.  When the replay buffer no longer
reaches back to SEQ, when more were missed than the queue holds, or when SEQ is ahead
of the hub (the server restarted), the client gets ``{"type": "reset", "seq": CURRENT}``
instead and must reload through the REST API: nothing is skipped silently.
"""

import asyncio
import collections
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from toolbox.jsontext import dumps_bytes

if TYPE_CHECKING:
    from toolbox.core.events.bus import Hub
    from toolbox.core.events.hub import Event

log = logging.getLogger("toolbox.live")

CLOSE_TOO_SLOW = 1013  # "try again later"
CLOSE_GOING_AWAY = 1001
WRITE_BATCH = 100


def encode(message: Any) -> bytes:
    """A message as the UTF-8 JSON text of its websocket message."""
    return dumps_bytes(message, default=str)


class LiveClient:
    """One connection's outgoing side: the messages not yet handed to its socket, in order.

    No task per client: ``offer`` hands a message to the socket at once when nothing is
    being written, else queues it; when the last write of a batch completes, its callback
    hands over the next batch (what queued meanwhile, at most ``WRITE_BATCH``).  With a
    thousand consoles, a task woken per client per event cost more than the writes.
    """

    def __init__(self, hub: "ConsoleFeed", send: Callable[[Any], Awaitable[Any]],
                 close: Callable[[int | None, str | None], Any], queue_size: int, label: str,
                 send_many: Callable[[list[Any]], Awaitable[Any]] | None = None) -> None:
        self.hub = hub
        self.send = send  # callable(text) -> awaitable that resolves once the text is written
        # callable(texts) -> awaitable: every text its own message, written at once (one
        # socket write for the batch instead of one per message); None: ``send`` each
        self.send_many = send_many
        self.close = close  # callable(code, reason): closes the connection
        self.label = label
        self.queue_size = queue_size
        # not yet handed to the socket: texts, and [text, task id] (a task.output slot, see offer_output)
        self.pending: collections.deque[Any] = collections.deque()
        self.output_slots: dict[Any, list[Any]] = {}  # task id -> its [text, task id] waiting in ``pending``
        self.closed = False
        self.sent = 0
        self.writing = 0  # writes handed to the socket and not yet done (one batch at most)

    def offer(self, text: Any) -> None:
        """Send ``text`` (or queue it behind what is being written) without waiting; drop the
        client when ``queue_size`` messages are waiting already."""
        if self.closed:
            return
        if len(self.pending) >= self.queue_size:
            self.drop(CLOSE_TOO_SLOW, f"too slow: {self.queue_size} messages waiting")
            return
        self.pending.append(text)
        if not self.writing:
            self._write_batch()

    def offer_output(self, task_id: Any, text: bytes) -> None:
        """Send a ``task.output`` event: in place of the task's one still waiting, if any."""
        slot = self.output_slots.get(task_id)
        if slot is not None and not self.closed:
            slot[0] = text
            return
        slot = [text, task_id]
        self.offer(slot)  # type: ignore[arg-type]  # a slot is sent as its text
        if self.pending and self.pending[-1] is slot:
            self.output_slots[task_id] = slot

    def _write_batch(self) -> None:
        """Hand the next batch to the socket, in order; each write's end calls ``_written``."""
        pending = self.pending
        batch = [pending.popleft() for _ in range(min(WRITE_BATCH, len(pending)))]
        for item in batch:
            if isinstance(item, list) and self.output_slots.get(item[1]) is item:
                del self.output_slots[item[1]]  # handed over: a newer one queues anew
        batch = [item[0] if isinstance(item, list) else item for item in batch]
        if self.send_many is not None:
            self.writing = 1
            try:
                write = asyncio.ensure_future(self.send_many(batch))
            except Exception as error:  # closed socket: the client is gone
                self._gone(error)
                return
            write.add_done_callback(functools.partial(self._written, len(batch)))
            return
        self.writing = len(batch)
        for text in batch:
            try:
                write = asyncio.ensure_future(self.send(text))
            except Exception as error:  # closed socket: the client is gone
                self._gone(error)
                return
            write.add_done_callback(functools.partial(self._written, 1))

    def _written(self, messages: int, write: "asyncio.Future[Any]") -> None:
        if write.cancelled() or write.exception() is not None:
            self._gone(None if write.cancelled() else write.exception())
            return
        self.sent += messages
        self.writing -= 1
        if not self.writing and self.pending and not self.closed:
            self._write_batch()

    def _gone(self, error: BaseException | None) -> None:
        if not self.closed:
            log.debug("live client %s: send failed: %r", self.label, error)
            self.drop(None, None)

    def drop(self, code: int | None, reason: str | None) -> None:
        """Forget this client and close its connection (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self.pending.clear()
        self.output_slots.clear()
        self.hub.clients.discard(self)
        if code == CLOSE_TOO_SLOW:
            self.hub.dropped += 1
        if reason:
            log.info("live client %s dropped: %s", self.label, reason)
        try:
            self.close(code, reason)  # writes in flight end with the socket
        except Exception:  # already closed
            log.debug("live client %s: close failed", self.label, exc_info=True)


class ConsoleFeed:
    """Fan EventHub events out to websocket clients, never waiting for any of them."""

    def __init__(self, events: "Hub", queue_size: int = 1000) -> None:
        if queue_size < 2:
            raise ValueError("queue_size must be at least 2 (hello + one event)")
        self.events = events
        self.queue_size = queue_size
        self.clients: set[LiveClient] = set()
        self.dropped = 0  # consoles dropped for reading too slowly (a metric)
        events.subscribe_feed(self._on_event)

    def connect(self, send: Callable[[Any], Awaitable[Any]], close: Callable[[int | None, str | None], Any],
                since: int | None = None, label: str = "client",
                send_many: Callable[[list[Any]], Awaitable[Any]] | None = None) -> LiveClient:
        """Register a client; queue its hello and replay; return the ``LiveClient``.

        ``send(text)`` writes one message; ``send_many(texts)``, when given, writes a batch
        of them (each its own message) in one go, and is used instead."""
        client = LiveClient(self, send, close, self.queue_size, label, send_many)
        current = self.events.seq
        client.offer(encode({"type": "hello", "seq": current}))
        if since is not None:
            missed = self.events.since(since) if since <= current else None
            if missed is None or len(missed) > self.queue_size - 1:
                client.offer(encode({"type": "reset", "seq": current}))
            else:
                for event in missed:
                    client.offer(encode(event))
        # Synchronous from the seq read to here: no event can slip in between.
        if not client.closed:
            self.clients.add(client)
        return client

    def disconnect(self, client: LiveClient) -> None:
        """The connection closed on its own: send it nothing more."""
        client.closed = True
        client.pending.clear()
        self.clients.discard(client)

    def _on_event(self, event: "Event") -> None:
        if not self.clients:
            return
        try:
            text = encode(event)
        except (TypeError, ValueError):
            log.exception("event %s cannot be encoded; not sent", event.get("type"))
            return
        if event.get("type") == "task.output":
            task_id = (event.get("data") or {}).get("task_id")
            for client in list(self.clients):
                client.offer_output(task_id, text)
            return
        for client in list(self.clients):
            client.offer(text)

    def close_all(self) -> None:
        """Server shutdown: close every connection."""
        for client in list(self.clients):
            client.drop(CLOSE_GOING_AWAY, "server shutting down")
        self.events.unsubscribe_feed(self._on_event)
