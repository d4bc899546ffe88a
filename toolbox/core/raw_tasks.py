"""Raw commands (admins only): one task per named agent, running the command as given.

A raw command is not a tool: nothing is parsed from it and no job counts it.  The
command is checked (and repaired where the field agent would garble it,
``validation.command_repaired``); every named agent must exist and be enabled.
"""

from typing import TYPE_CHECKING, Any

from toolbox import validation
from toolbox.core.job_selection import agent_names
from toolbox.errors import ValidationError
from toolbox.store.db import Doc

if TYPE_CHECKING:
    from toolbox.core.agents import AgentRegistry
    from toolbox.core.tasks import TaskService


class RawTasks:
    """Queues raw commands on named agents."""

    def __init__(self, agents: "AgentRegistry", tasks: "TaskService") -> None:
        self.agents = agents
        self.tasks = tasks

    async def create(self, agents: Any, command: Any, created_by: str) -> tuple[list[str], str, list[Doc]]:
        """Queue ``command`` on each of ``agents`` (names); return (names, the command queued, task documents)."""
        names = agent_names(agents)
        command, repaired = validation.command_repaired(command)
        for name in names:
            doc = await self.agents.require(name)
            if doc.get("disabled"):
                raise ValidationError(f"agents: agent {name} is disabled")
        docs = await self.tasks.create(names, command, created_by=created_by, command_repaired=repaired or None)
        return names, command, docs
