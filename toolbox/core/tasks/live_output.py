"""A running task's output so far, as toolbox-agent streams it (``POST /agent/task/output``).

toolbox-agent posts the tail of its command's output (at most ``TAIL_BYTES``) and how many
bytes it has written in all, a few times a second while the command runs; the field agent
never does (its protocol has no such call).  ``LiveOutput`` keeps the newest post of each
task in memory and, at most once per ``interval`` per task, writes it to the task as its
``partial`` output (``TaskService.store_partial``: ``GET /api/tasks/{id}`` carries it while
the task runs, from whichever process) and publishes one ``task.output`` event with a
shorter tail and what the tool's parser reads from it so far (``toolbox.tools.live``).
Posts in between are merged: only the newest is written.  The result replaces the
partial output when it comes (the repositories drop ``partial`` with the result).

Each post is answered with whether the task is to stop: it was canceled while it ran
(the agent then kills its command and posts what it had), or it is no longer in flight.
"""

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from toolbox import clock
from toolbox.errors import NotFound
from toolbox.store.db import PyMongoError
from toolbox.task_states import DISPATCHED
from toolbox.tools.live import live_reading

if TYPE_CHECKING:
    from toolbox.core.events.bus import Hub
    from toolbox.core.events.hub import Event
    from toolbox.core.tasks.service import TaskService

log = logging.getLogger("toolbox.tasks")

TAIL_BYTES = 16 * 1024  # kept per task: the tail of its output
EVENT_TAIL_BYTES = 2048  # sent to every console with each ``task.output``
_ENDED = frozenset({"task.done", "task.lost", "task.canceled", "task.released"})


def tail_of(text: str, limit: int) -> str:
    """The last ``limit`` bytes (UTF-8) of ``text``, never starting mid-character."""
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    return data[-limit:].decode("utf-8", "ignore")


@dataclasses.dataclass
class _Stream:
    task_id: int
    agent: str
    job_id: int | None
    tool: str | None
    target: str | None
    output: str = ""
    total: int = 0
    posts: int = 0
    written_at: float = -1e9
    timer: asyncio.TimerHandle | None = None


class LiveOutput:
    """The newest output of each running task, written and announced a few times a second."""

    def __init__(self, tasks: "TaskService", events: "Hub", interval: float = 0.25) -> None:
        self.tasks = tasks
        self.events = events
        self.interval = interval
        self.streams: dict[int, _Stream] = {}  # task id -> its stream (one per agent in flight)
        events.subscribe(self.on_event)

    async def add(self, agent: str, registration: str, task_id: int, output: str, total: int) -> bool:
        """Take a post of ``agent``'s output of ``task_id``; True when the task is to stop.

        NotFound when the task was never delivered to this registration of the agent."""
        stream = self.streams.get(task_id)
        if stream is None or stream.agent != agent:
            doc = await self.tasks.in_flight_for(agent, task_id)
            if (doc is None or doc["agent"] != agent or doc.get("dispatched_at") is None
                    or doc.get("registration") not in (None, registration)):
                raise NotFound(f"task {task_id} was not delivered to agent {agent}")
            if doc["state"] != DISPATCHED:
                return True  # stopped (canceled while it ran) or ended otherwise
            stream = _Stream(task_id, agent, doc.get("job_id"), doc.get("tool"), doc.get("target"))
            self.streams[task_id] = stream
        if total < stream.total:
            return False  # an older post that arrived late
        stream.output, stream.total = tail_of(output, TAIL_BYTES), max(total, len(output))
        stream.posts += 1
        if stream.timer is None:
            loop = asyncio.get_running_loop()
            wait = max(0.0, stream.written_at + self.interval - loop.time())
            stream.timer = loop.call_later(wait, self._flush, stream)
        return False

    def _flush(self, stream: _Stream) -> None:
        """Write and announce the stream's newest output (one write and one event)."""
        stream.timer = None
        if self.streams.get(stream.task_id) is not stream:
            return  # the task ended meanwhile
        stream.written_at = asyncio.get_running_loop().time()
        partial = {"output": stream.output, "bytes": stream.total, "at": clock.isoformat(clock.utcnow()),
                   "reading": live_reading(stream.tool, stream.output, stream.target)}
        asyncio.ensure_future(self._store(stream, partial))
        self.events.publish("task.output", {
            "task_id": stream.task_id, "agent": stream.agent, "job_id": stream.job_id, "state": DISPATCHED,
            "partial": partial | {"output": tail_of(stream.output, EVENT_TAIL_BYTES)}})

    async def _store(self, stream: _Stream, partial: dict[str, Any]) -> None:
        try:
            await self.tasks.store_partial(stream.task_id, stream.agent, partial)
        except PyMongoError:  # the next flush writes the newer output anyway
            log.warning("task %s: its output so far could not be stored", stream.task_id, exc_info=True)

    def on_event(self, event: "Event") -> None:
        """A task that ended (here or in another process) streams no more."""
        if event["type"] in _ENDED:
            stream = self.streams.pop(event["data"].get("task_id"), None)
            if stream is not None and stream.timer is not None:
                stream.timer.cancel()

    def close(self) -> None:
        for stream in self.streams.values():
            if stream.timer is not None:
                stream.timer.cancel()
        self.streams.clear()
