"""The long-poll dispatcher: agents' parked fetches, woken the moment a task arrives.

At most one fetch per agent is parked: a newer fetch from the same agent answers
the older one at once (the legacy agent fires a fetch every second without waiting).
A parked fetch claims a task only while its agent has none in flight (the claim says
no otherwise, see ``toolbox.store.repos.tasks``), so it is woken both when a task is queued for
its agent and when the agent's task in flight ends.  Wake-ups inside the process are
immediate (``notify``); tasks created (or ended) by another server process on the same
database are noticed by ``wake_queued``, which the sweeper runs every second with one
query for all parked agents.

A task created ahead of its release (a spread round's: its ``created_at`` is in the
future) is claimed by no fetch before then; its ``task.queued`` event sets a timer that
wakes the agent's fetch at that time (in another process, ``wake_queued`` finds it once
released).

Stopping a running task (``TaskService.stop``, ``task.canceled`` with ``stopping``): the
dispatcher of every process notes the task in ``stops`` and wakes the agent's parked
fetch; a fetch that hears stops (``toolbox-agent``'s, never the field agent's) is answered
at once with the ids to stop (``take_stops``).  A stop waits there for the agent's next
fetch until the task is released (its result came, or the agent is gone).

A fetch is parked for one registration of its agent (``toolbox.core.dispatch.agents``): if the agent
is deleted, created again or disabled while the fetch waits, it gets no task.
"""

import asyncio
import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toolbox.core.dispatch.agents import AgentRegistry
    from toolbox.core.events.bus import Hub
    from toolbox.core.events.hub import Event
    from toolbox.core.tasks.service import TaskService
    from toolbox.store.db import Doc

WAKE, TIMEOUT, SUPERSEDED, CLOSED = "wake", "timeout", "superseded", "closed"


class Parked:
    """One parked fetch: the agent, the future it waits on, and why it ended."""

    __slots__ = ("agent", "registration", "future", "timer", "ended", "hears_stop")

    def __init__(self, agent: str, registration: str, future: "asyncio.Future[str]",
                 hears_stop: bool = False) -> None:
        self.hears_stop = hears_stop  # toolbox-agent's fetch: it may be answered with stops
        self.agent = agent
        self.registration = registration
        self.future = future
        self.timer: asyncio.TimerHandle | None = None
        self.ended: str | None = None

    def wake(self, reason: str = WAKE) -> None:
        """Resolve the fetch's wait.  A plain WAKE only makes it look again (claim, and
        park anew if there is nothing); any other reason ends the park for good."""
        if reason != WAKE and self.ended is None:
            self.ended = reason
        if not self.future.done():
            self.future.set_result(reason)


class ParkedFetches:
    """The fetches parked in this process, at most one per agent.

    Made first and handed to the agent registry (an agent holding a fetch open is
    online) and to the dispatcher (which parks and wakes them).
    """

    def __init__(self) -> None:
        self.by_agent: dict[str, Parked] = {}

    def __contains__(self, agent: object) -> bool:
        return agent in self.by_agent

    def __len__(self) -> int:
        return len(self.by_agent)

    def __bool__(self) -> bool:
        return bool(self.by_agent)

    def get(self, agent: str) -> Parked | None:
        return self.by_agent.get(agent)

    def is_parked(self, agent: str) -> bool:
        return agent in self.by_agent

    def park(self, agent: str, registration: str, hears_stop: bool = False) -> Parked:
        """Register a fetch for ``agent``'s ``registration``, superseding the one already parked."""
        previous = self.by_agent.get(agent)
        if previous is not None:
            previous.wake(SUPERSEDED)
        parked = Parked(agent, registration, asyncio.get_running_loop().create_future(), hears_stop)
        self.by_agent[agent] = parked
        return parked

    def unpark(self, parked: Parked) -> None:
        if self.by_agent.get(parked.agent) is parked:
            del self.by_agent[parked.agent]

    def agents(self) -> list[str]:
        return list(self.by_agent)

    def all(self) -> list[Parked]:
        return list(self.by_agent.values())


# Task events after which the agent may have a task to claim: one was queued (or put
# back), or its task in flight ended.
_WAKING_EVENTS = frozenset({"task.queued", "task.done", "task.lost", "task.canceled", "task.released"})
_ENDING_EVENTS = frozenset({"task.done", "task.lost", "task.released"})


class Dispatcher:
    """Hands each queued task to exactly one open fetch of its agent."""

    def __init__(self, parked: ParkedFetches, tasks: "TaskService", agents: "AgentRegistry", events: "Hub") -> None:
        self.parked = parked
        self.tasks = tasks
        self.agents = agents
        self.closing = False  # the process stops: fetches get the empty reply at once
        self.stops: dict[str, set[int]] = {}  # agent -> its tasks stopped while they run, not yet told
        events.subscribe(self.on_event)

    def on_event(self, event: "Event") -> None:
        """A task event (of this process or, with a shared database, another): wake the
        agent's parked fetch when it may have something to claim now."""
        if event["type"] in _WAKING_EVENTS:
            agent = event["data"].get("agent")
            if agent is None:
                return
            task_id = event["data"].get("task_id")
            if event["type"] == "task.canceled" and event["data"].get("stopping"):
                self.stops.setdefault(agent, set()).add(task_id)
            elif event["type"] in _ENDING_EVENTS and agent in self.stops:
                self.stops[agent].discard(task_id)
                if not self.stops[agent]:
                    del self.stops[agent]
            self.notify(agent)
            if event["type"] == "task.queued":
                self._wake_at_release(agent, event["data"].get("created_at"))

    def _wake_at_release(self, agent: str, created_at: str | None) -> None:
        """A task released later (``created_at`` ahead): wake the agent's fetch then."""
        if not created_at:
            return
        ahead = (datetime.datetime.fromisoformat(created_at.replace("Z", "+00:00"))
                 - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
        if ahead > 0:
            asyncio.get_running_loop().call_later(ahead + 0.001, self.notify, agent)

    def take_stops(self, parked: Parked) -> list[int]:
        """The tasks to tell ``parked``'s agent to stop (now told), if its fetch hears stops."""
        if not parked.hears_stop or parked.agent not in self.stops:
            return []
        return sorted(self.stops.pop(parked.agent))

    def is_parked(self, agent: str) -> bool:
        return agent in self.parked

    def park(self, agent: str, registration: str, hears_stop: bool = False) -> Parked:
        """Register a fetch for ``agent``'s ``registration``, superseding the one already parked."""
        parked = self.parked.park(agent, registration, hears_stop)
        if self.closing:
            parked.wake(CLOSED)
        return parked

    def notify(self, agent: str) -> None:
        """``agent`` may have a task to claim: wake its parked fetch, if any."""
        parked = self.parked.get(agent)
        if parked is not None:
            parked.wake(WAKE)

    def close(self, parked: Parked) -> None:
        """The fetch's client went away."""
        parked.wake(CLOSED)

    async def wait_for_task(self, parked: Parked, timeout: float) -> "Doc | None":
        """Claim a task for the parked fetch, waiting up to ``timeout`` seconds; None if none."""
        loop = asyncio.get_running_loop()
        parked.timer = loop.call_later(timeout, parked.wake, TIMEOUT)
        try:
            while parked.ended is None:
                if parked.hears_stop and parked.agent in self.stops:
                    return None  # the handler answers with the stops at once
                if not self.agents.may_take_tasks(parked.agent, parked.registration):
                    return None
                doc = await self.tasks.claim(parked.agent, parked.registration)
                if doc is not None:
                    return doc
                if parked.ended is not None:
                    break
                await parked.future
                if parked.ended is None:
                    parked.future = loop.create_future()
            return None
        finally:
            parked.timer.cancel()
            self.parked.unpark(parked)

    async def wake_queued(self) -> int:
        """Wake parked fetches whose agents have queued tasks (created by any process)."""
        if not self.parked:
            return 0
        woken = 0
        for agent in await self.tasks.queued_agents():
            if agent in self.parked:
                self.notify(agent)
                woken += 1
        return woken

    def close_all(self) -> None:
        """The process stops: every parked fetch (and every later one) gets the empty reply."""
        self.closing = True
        for parked in self.parked.all():
            parked.wake(CLOSED)
