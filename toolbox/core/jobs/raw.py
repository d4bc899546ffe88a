"""Raw commands (admins only): one task per named agent, running the command as given.

A raw command is not a tool: nothing is parsed from it and no job counts it.
``raw_task_request`` checks what a client asks for (the handler calls it): the agent names,
and the command (repaired where the field agent would garble it,
``validation.command_repaired``); ``RawTasks.create`` then requires every named agent to
exist and be enabled.
"""

import dataclasses
from typing import TYPE_CHECKING, Any

from toolbox import validation
from toolbox.core.jobs.selection import agent_names
from toolbox.errors import ValidationError
from toolbox.store.db import Doc

if TYPE_CHECKING:
    from toolbox.core.dispatch.agents import AgentRegistry
    from toolbox.core.tasks.service import TaskService


@dataclasses.dataclass(frozen=True)
class RawTaskRequest:
    """A raw command as asked for, checked: the agents (each once, in order) and the command to queue."""

    agents: list[str]
    command: str
    repaired: bool  # the command was repaired (``validation.command_repaired``)


def raw_task_request(agents: Any, command: Any) -> RawTaskRequest:
    """The request's ``agents`` and ``command``, checked in that order, or ValidationError."""
    names = agent_names(agents)
    checked, repaired = validation.command_repaired(command)
    return RawTaskRequest(names, checked, repaired)


class RawTasks:
    """Queues raw commands on named agents."""

    def __init__(self, agents: "AgentRegistry", tasks: "TaskService") -> None:
        self.agents = agents
        self.tasks = tasks

    async def create(self, request: RawTaskRequest, created_by: str) -> list[Doc]:
        """Queue the request's command on each of its agents; return the task documents."""
        for name in request.agents:
            doc = await self.agents.require(name)
            if doc.get("disabled"):
                raise ValidationError(f"agents: agent {name} is disabled")
        return await self.tasks.create(request.agents, request.command, created_by=created_by,
                                       command_repaired=request.repaired or None)
