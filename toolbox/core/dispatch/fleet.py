"""What happens to an agent across the registry, its tasks and its parked fetch.

``Fleet`` is what the agent handlers call, one method each:

- ``output``: toolbox-agent's output so far (``POST /agent/task/output``), answered with
  whether to stop;
- ``report``: a result came (``POST /agent/task``), parsed by ``toolbox.core.dispatch.agent_results``;
- ``registered``: an agent process started (``POST /agent/new``); a task it had in flight
  belonged to the process before, which is gone, so that task ends ``lost``;
- ``change`` / ``delete``: an admin's change; a disabled or deleted agent's parked fetch
  ends, a deleted agent's queued tasks are canceled and its task in flight ends ``lost``;
- the delivery of a task to a fetch (``GET /agent/task``): ``park`` → ``next_task`` (the
  dispatcher claims one) → ``hand_over``, which writes it and marks it delivered, or puts
  it back in the queue when the fetch is gone, so the next fetch gets it.
"""

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from toolbox import clock
from toolbox.core.dispatch.agent_results import ResultReport
from toolbox.core.dispatch.agents import registration_of
from toolbox.task_states import AGENT_RESTARTED
from toolbox.validation import AgentChanges
from toolbox.errors import Forbidden
from toolbox.store.db import Doc

if TYPE_CHECKING:
    from toolbox.core.dispatch.agents import AgentRegistry
    from toolbox.core.dispatch.dispatcher import Dispatcher, Parked
    from toolbox.core.tasks.live_output import LiveOutput
    from toolbox.core.tasks.service import TaskService


class Fleet:
    """Agent operations that span the agent registry, the tasks and the dispatcher."""

    def __init__(self, agents: "AgentRegistry", tasks: "TaskService", dispatcher: "Dispatcher",
                 task_timeout: float, live_output: "LiveOutput | None" = None) -> None:
        self.live_output = live_output
        self.agents = agents
        self.tasks = tasks
        self.dispatcher = dispatcher
        self.task_timeout = task_timeout  # seconds a raw command may run (tool tasks carry their own)

    async def registered(self, name: str, address: str | None, user_agent: str | None) -> None:
        """Record a registration; the task the agent's previous process had in flight ends lost."""
        await self.agents.record_registration(name, address, user_agent)
        await self.tasks.end_in_flight(name, AGENT_RESTARTED)

    async def change(self, name: str, changes: AgentChanges) -> Doc:
        """Change an agent's tags, platform or disabled (NotFound: no such agent); a disabled
        agent's parked fetch ends.  Enabling a disabled agent records ``enabled_at``: consoles
        say why its next task may wait (a paused toolbox-agent asks again only every 30 s)."""
        before = await self.agents.require(name)
        fields = changes.fields()
        if changes.disabled is False and before.get("disabled"):
            fields["enabled_at"] = clock.utcnow()
        doc = await self.agents.update(name, **fields)
        if changes.disabled:
            self.dispatcher.notify(name)
        return doc

    async def delete(self, name: str) -> list[Doc]:
        """Delete an agent: its queued tasks are canceled, its task in flight ends ``lost``.

        Returns the canceled tasks.  A fetch it has parked gets the empty reply.
        """
        await self.agents.delete(name)
        canceled, _lost = await self.tasks.end_agent(name)
        self.dispatcher.notify(name)  # the parked fetch sees its registration is gone
        return canceled

    async def report(self, agent: Doc, report: ResultReport) -> str:
        """Store a result the agent ``agent`` reported (a sign of life too); return what
        ``TaskService.complete`` says of it (``duplicate`` when it was stored before)."""
        self.agents.mark_seen(report.name)
        return await self.tasks.complete(
            report.name, registration_of(agent), report.task_id, report.result, report.exit_code,
            report.duration_ms, truncated=report.truncated, recovered=report.recovered,
            repaired=report.repaired)

    async def output(self, name: str, agent: Doc, task_id: int, output: str, total: int) -> bool:
        """toolbox-agent's output so far of ``task_id`` (a sign of life too); True when the
        task is to stop (``toolbox.core.tasks.live_output``)."""
        self.agents.mark_seen(name)
        if self.live_output is None:
            return False
        return await self.live_output.add(name, registration_of(agent), task_id, output, total)

    # --- delivering a task to a fetch ---

    def park(self, name: str, agent: Doc, hears_stop: bool = False) -> "Parked":
        """Park a fetch of agent ``name`` (its document ``agent``); Forbidden while it is disabled.

        ``hears_stop``: the fetch is toolbox-agent's, which may be answered with the ids of
        tasks to stop (``stops``); the field agent's never is."""
        self.agents.mark_seen(name)  # a disabled agent is alive: its task in flight runs on
        if agent.get("disabled"):
            raise Forbidden(f"agent {name} is disabled")
        return self.dispatcher.park(name, registration_of(agent), hears_stop)

    def stops(self, parked: "Parked") -> list[int]:
        """The tasks the parked fetch's agent is to stop now (see ``Dispatcher.take_stops``)."""
        return self.dispatcher.take_stops(parked)

    def leave(self, parked: "Parked") -> None:
        """The fetch's client went away: the park ends (with nothing claimed for it)."""
        self.dispatcher.close(parked)

    async def next_task(self, name: str, parked: "Parked", timeout: float) -> Doc | None:
        """The task claimed for the parked fetch, or None (timed out, closed or superseded)."""
        doc = await self.dispatcher.wait_for_task(parked, timeout)
        self.agents.mark_seen(name)
        return doc

    async def hand_over(self, doc: Doc, send: Callable[[dict[str, Any]], Awaitable[bool]]) -> None:
        """Send the claimed task ``doc`` with ``send(reply)``, a coroutine that answers False
        when the fetch is gone: then the task goes back to the queue, else it is delivered."""
        # ``timeout``: seconds the command may run (the field agent ignores unknown fields).
        timeout = doc.get("time_limit") or self.task_timeout
        if await send({"task_id": doc["_id"], "command": doc["command"], "timeout": timeout}):
            self.tasks.delivered(doc)
        else:
            await self.tasks.unclaim(doc)
