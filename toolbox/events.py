"""The in-process event hub: task, job and agent changes, numbered and buffered.

Every event gets the next sequence number; the last ``buffer_size`` events are kept
so that a console that reconnects can ask for what it missed (``since``).  Listeners
are plain callables, called synchronously: they must not block (the websocket layer
queues per client).
"""

import collections
import logging
import time

log = logging.getLogger("toolbox.events")


class EventHub:
    """Publish events to listeners and keep a bounded replay buffer."""

    def __init__(self, buffer_size=10000):
        self.seq = 0
        self.buffer = collections.deque(maxlen=buffer_size)
        self.listeners = set()

    def publish(self, event_type, data):
        """Number, buffer and hand an event to every listener; return the event."""
        self.seq += 1
        event = {"seq": self.seq, "type": event_type, "at": time.time(), "data": data}
        self.buffer.append(event)
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:  # one broken listener must not starve the others
                log.exception("event listener failed; removing it")
                self.listeners.discard(listener)
        return event

    def since(self, seq):
        """The buffered events after ``seq``, or None when the buffer no longer reaches back."""
        if seq >= self.seq:
            return []
        if not self.buffer or self.buffer[0]["seq"] > seq + 1:
            return None
        start = seq + 1 - self.buffer[0]["seq"]
        return list(self.buffer)[start:]

    def subscribe(self, listener):
        self.listeners.add(listener)

    def unsubscribe(self, listener):
        self.listeners.discard(listener)
