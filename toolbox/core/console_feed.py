"""The live feed behind ``/api/ws``: every hub event, to every open console, in order.

``ConsoleFeed`` listens to the ``EventHub`` and fans each event out to its clients.  The
publish path never waits for a client: each event is serialized once and put on
every client's own bounded queue; one writer task per client drains that queue into
the socket, a batch at a time (what has queued up, at most ``WRITE_BATCH`` messages,
each its own websocket message, in order), awaiting the batch's writes before taking
the next (so at most one batch per client sits in Tornado's buffer, and a client is not
held to one message per event-loop iteration: docs/benchmarks.md).  A client whose queue
overflows (it reads slower than events arrive, or not at all) is dropped: its socket is
closed with code 1013 and it may reconnect with ``since`` to get what it missed.

A connection starts with ``{"type": "hello", "seq": CURRENT}``.  With ``since=SEQ`` the
missed events follow (oldest first), then live ones.  When the replay buffer no longer
reaches back to SEQ, when more were missed than the queue holds, or when SEQ is ahead
of the hub (the server restarted), the client gets ``{"type": "reset", "seq": CURRENT}``
instead and must reload through the REST API: nothing is skipped silently.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolbox.core.bus import Hub
    from toolbox.core.events import Event

log = logging.getLogger("toolbox.live")

CLOSE_TOO_SLOW = 1013  # "try again later"
CLOSE_GOING_AWAY = 1001
WRITE_BATCH = 100


def encode(message: Any) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), default=str)


class LiveClient:
    """One connection's outgoing side: a bounded queue and the task that drains it."""

    def __init__(self, hub: "ConsoleFeed", send: Callable[[str], Awaitable[Any]],
                 close: Callable[[int | None, str | None], Any], queue_size: int, label: str) -> None:
        self.hub = hub
        self.send = send  # async callable(text): resolves once the text is written
        self.close = close  # callable(code, reason): closes the connection
        self.label = label
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        self.closed = False
        self.sent = 0
        self.writer: asyncio.Future[None] | None = None
        self.writing = False  # awaiting the socket's writes (never cancel those: see drop)

    def offer(self, text: str) -> None:
        """Queue ``text`` without waiting; drop the client when its queue is full."""
        if self.closed:
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.drop(CLOSE_TOO_SLOW, f"too slow: {self.queue.maxsize} messages waiting")

    async def write_forever(self) -> None:
        try:
            queue = self.queue
            while True:
                batch = [await queue.get()]
                while len(batch) < WRITE_BATCH and not queue.empty():
                    batch.append(queue.get_nowait())
                # Each send starts its write now, in order; then wait for them all.
                self.writing = True
                outcomes = await asyncio.gather(*[self.send(text) for text in batch],
                                                return_exceptions=True)
                self.writing = False
                if self.closed:
                    return
                for outcome in outcomes:
                    if isinstance(outcome, BaseException):
                        raise outcome
                self.sent += len(batch)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # closed socket, stream error: the client is gone
            log.debug("live client %s: send failed: %r", self.label, error)
            self.drop(None, None, from_writer=True)

    def drop(self, code: int | None, reason: str | None, from_writer: bool = False) -> None:
        """Forget this client and close its connection (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self.hub.clients.discard(self)
        if code == CLOSE_TOO_SLOW:
            self.hub.dropped += 1
        if reason:
            log.info("live client %s dropped: %s", self.label, reason)
        # A writer waiting for a queue is cancelled; one waiting for its writes is not (a
        # cancelled Tornado write logs a traceback): closing the socket ends those writes.
        if self.writer is not None and not from_writer and not self.writing:
            self.writer.cancel()
        try:
            self.close(code, reason)
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

    def connect(self, send: Callable[[str], Awaitable[Any]], close: Callable[[int | None, str | None], Any],
                since: int | None = None, label: str = "client") -> LiveClient:
        """Register a client; queue its hello and replay; return the ``LiveClient``."""
        client = LiveClient(self, send, close, self.queue_size, label)
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
        self.clients.add(client)
        client.writer = asyncio.ensure_future(client.write_forever())
        return client

    def disconnect(self, client: LiveClient) -> None:
        """The connection closed on its own: stop its writer."""
        client.closed = True
        self.clients.discard(client)
        if client.writer is not None:
            client.writer.cancel()

    def _on_event(self, event: "Event") -> None:
        if not self.clients:
            return
        try:
            text = encode(event)
        except (TypeError, ValueError):
            log.exception("event %s cannot be encoded; not sent", event.get("type"))
            return
        for client in list(self.clients):
            client.offer(text)

    def close_all(self) -> None:
        """Server shutdown: close every connection."""
        for client in list(self.clients):
            client.drop(CLOSE_GOING_AWAY, "server shutting down")
        self.events.unsubscribe_feed(self._on_event)
