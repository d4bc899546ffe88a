"""The event hub of one process: task, job and agent changes, numbered and buffered.

Two kinds of listeners, plain callables called synchronously (they must not block):

- ``subscribe``: the services (job counting, the dispatcher's wake-ups, caches).  They
  get every event once, those of this process at the moment they are published.
- ``subscribe_feed``: the live feed to consoles.  It gets every event meant for people
  (not the ``feed=False`` ones, such as cache invalidations), with its sequence number,
  in the one order every process agrees on.

On the embedded database this process is the only one: ``EventHub`` numbers feed events
1, 2, 3 … as they are published and both kinds of listeners see them in that order.  With a
shared MongoDB, ``toolbox.core.events.bus.MongoBus`` (same interface) carries events between
processes.  The last ``buffer_size`` feed events (``TOOLBOX_REPLAY_EVENTS``) are kept so
that a console that reconnects can ask for what it missed (``since``).
"""

import bisect
import collections
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("toolbox.events")

# An event: {"seq", "type", "at", "data"} (and "remote" when another process published it).
Event = dict[str, Any]
Listener = Callable[[Event], Any]


class Listeners:
    """A set of listeners, called in turn; one that raises is logged and removed."""

    def __init__(self) -> None:
        self._all: tuple[Listener, ...] = ()  # a tuple: calling never copies, (un)subscribing rebuilds it

    def add(self, listener: Listener) -> None:
        if listener not in self._all:
            self._all = self._all + (listener,)

    def discard(self, listener: Listener) -> None:
        self._all = tuple(other for other in self._all if other is not listener)

    def __len__(self) -> int:
        return len(self._all)

    def __call__(self, event: Event) -> None:
        for listener in self._all:
            try:
                listener(event)
            except Exception:  # one broken listener must not starve the others
                log.exception("event listener failed; removing it")
                self.discard(listener)


class FeedBuffer:
    """The newest feed events, oldest first, for ``since`` replays.

    Sequence numbers grow but may skip (events not meant for the feed, or, across
    processes, numbers taken from the database's clock).  ``complete_after`` is the
    number after which every feed event is still here: the start, or the newest event
    pushed out by a newer one.
    """

    def __init__(self, size: int | None, start: int = 0) -> None:
        self.events: collections.deque[Event] = collections.deque(maxlen=size)
        self.seq = self.complete_after = start

    def append(self, event: Event) -> None:
        if len(self.events) == self.events.maxlen:
            self.complete_after = self.events[0]["seq"]
        self.events.append(event)
        self.seq = event["seq"]

    def since(self, seq: int) -> list[Event] | None:
        """The buffered events after ``seq``, or None when the buffer no longer reaches back."""
        if seq >= self.seq:
            return []
        if seq < self.complete_after:
            return None
        events = list(self.events)
        return events[bisect.bisect_right([event["seq"] for event in events], seq):]


class HubListeners:
    """What both hubs (``EventHub``, ``toolbox.core.events.bus.MongoBus``) share: the two kinds
    of listeners, the feed's replay buffer, and the order of events caused by events.

    A listener may publish (job counting announces ``job.progress`` for a ``task.done``).
    Such an event is not handed out in the middle of the one that caused it, where the
    listeners after the publisher would see effect before cause and the feed would number
    it first: ``in_order`` queues it and hands it out as soon as its cause has reached
    every listener, in the same call.
    """

    def __init__(self, buffer_size: int | None) -> None:
        self.feed = FeedBuffer(buffer_size)
        self.listeners = Listeners()
        self.feed_listeners = Listeners()
        # (hand_out, event) published while handing out
        self._queued: collections.deque[tuple[Callable[[Any], Any], Any]] = collections.deque()
        self._handing_out = False

    def in_order(self, hand_out: Callable[[Any], Any], event: Any) -> None:
        """Call ``hand_out(event)`` now, or right after the event being handed out."""
        self._queued.append((hand_out, event))
        if self._handing_out:
            return
        self._handing_out = True
        try:
            while self._queued:
                hand_out, event = self._queued.popleft()
                hand_out(event)
        finally:
            self._handing_out = False

    @property
    def seq(self) -> int:
        """The sequence number of the newest feed event (0 before any)."""
        return self.feed.seq

    @property
    def buffer(self) -> collections.deque[Event]:
        return self.feed.events

    def since(self, seq: int) -> list[Event] | None:
        """The buffered feed events after ``seq``, or None when the buffer no longer reaches back."""
        return self.feed.since(seq)

    def subscribe(self, listener: Listener) -> None:
        self.listeners.add(listener)

    def unsubscribe(self, listener: Listener) -> None:
        self.listeners.discard(listener)

    def subscribe_feed(self, listener: Listener) -> None:
        self.feed_listeners.add(listener)

    def unsubscribe_feed(self, listener: Listener) -> None:
        self.feed_listeners.discard(listener)


class EventHub(HubListeners):
    """Publish events to this process's listeners and keep a bounded replay buffer."""

    def __init__(self, buffer_size: int = 10000) -> None:
        super().__init__(buffer_size)
        self._next = 0

    async def start(self) -> None:
        """Nothing to open: events live in this process."""

    async def stop(self) -> None:
        """Nothing to close."""

    async def caught_up(self) -> None:
        """Every event published so far has reached its listeners (at once, here)."""

    async def prune(self) -> int:
        """Nothing stored: the replay buffer is bounded."""
        return 0

    def publish(self, event_type: str, data: Any, feed: bool = True) -> Event:
        """Number an event and hand it to every listener (and the feed), in order; return it
        (numbered once handed out: at once, unless a listener is publishing it)."""
        event = {"seq": None, "type": event_type, "at": time.time(), "data": data}
        self.in_order(self._hand_out, (event, feed))
        return event

    def _hand_out(self, published: tuple[Event, bool]) -> None:
        event, feed = published
        if feed:  # only feed events are numbered: consecutive here
            self._next += 1
            event["seq"] = self._next
            self.feed.append(event)
        self.listeners(event)
        if feed:
            self.feed_listeners(event)
