"""The long-poll dispatcher: agents' parked fetches, woken the moment a task arrives.

At most one fetch per agent is parked: a newer fetch from the same agent answers
the older one at once (the legacy agent fires a fetch every second without waiting).
A parked fetch claims a task only while its agent has none in flight (the claim says
no otherwise, see ``toolbox.claims``), so it is woken both when a task is queued for
its agent and when the agent's task in flight ends.  Wake-ups inside the process are
immediate (``notify``); tasks created (or ended) by another server process on the same
database are noticed by ``wake_queued``, which the sweeper runs every second with one
query for all parked agents.

A fetch is parked for one registration of its agent (``toolbox.agents``): if the agent
is deleted, created again or disabled while the fetch waits, it gets no task.
"""

import asyncio

WAKE, TIMEOUT, SUPERSEDED, CLOSED = "wake", "timeout", "superseded", "closed"


class Parked:
    """One parked fetch: the agent, the future it waits on, and why it ended."""

    __slots__ = ("agent", "registration", "future", "timer", "ended")

    def __init__(self, agent, registration, future):
        self.agent = agent
        self.registration = registration
        self.future = future
        self.timer = None
        self.ended = None

    def wake(self, reason=WAKE):
        """Resolve the fetch's wait.  A plain WAKE only makes it look again (claim, and
        park anew if there is nothing); any other reason ends the park for good."""
        if reason != WAKE and self.ended is None:
            self.ended = reason
        if not self.future.done():
            self.future.set_result(reason)


class Dispatcher:
    """Hands each queued task to exactly one open fetch of its agent."""

    def __init__(self, tasks, agents):
        self.tasks = tasks
        self.agents = agents
        self.parked = {}
        tasks.notify = self.notify
        agents.is_parked = self.is_parked

    def is_parked(self, agent):
        return agent in self.parked

    def park(self, agent, registration):
        """Register a fetch for ``agent``'s ``registration``, superseding the one already parked."""
        previous = self.parked.get(agent)
        if previous is not None:
            previous.wake(SUPERSEDED)
        parked = Parked(agent, registration, asyncio.get_running_loop().create_future())
        self.parked[agent] = parked
        return parked

    def notify(self, agent):
        """A task was queued for ``agent``: wake its parked fetch, if any."""
        parked = self.parked.get(agent)
        if parked is not None:
            parked.wake(WAKE)

    def close(self, parked):
        """The fetch's client went away."""
        parked.wake(CLOSED)

    async def wait_for_task(self, parked, timeout):
        """Claim a task for the parked fetch, waiting up to ``timeout`` seconds; None if none."""
        loop = asyncio.get_running_loop()
        parked.timer = loop.call_later(timeout, parked.wake, TIMEOUT)
        try:
            while parked.ended is None:
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
            if self.parked.get(parked.agent) is parked:
                del self.parked[parked.agent]


    async def wake_queued(self):
        """Wake parked fetches whose agents have queued tasks (created by any process)."""
        if not self.parked:
            return 0
        woken = 0
        for agent in await self.tasks.queued_agents():
            if agent in self.parked:
                self.notify(agent)
                woken += 1
        return woken

    def close_all(self):
        for parked in list(self.parked.values()):
            parked.wake(CLOSED)
