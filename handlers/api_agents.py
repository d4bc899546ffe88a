"""Admin API for agents: create, list, read, change, delete, and reset tokens.

``POST /api/agents`` and ``POST /api/agents/{name}/token`` return the agent's token:
the only time it is ever shown (only its hash is stored).
"""

from .base import APIHandler, require_role
from toolbox import validation

NAME = r"(?P<name>[^/]+)"


class AgentsHandler(APIHandler):
    @require_role("viewer")
    async def get(self) -> None:
        """List agents."""
        registry = self.toolbox.agents
        self.write_json({"items": [registry.model(doc) for doc in registry.list()]})

    @require_role("admin")
    async def post(self) -> None:
        """Create an agent; the answer carries its token, shown this once."""
        body = self.json_body()
        validation.check_fields(body, ("name", "tags", "platform"), required=("name",))
        name = validation.agent_name(body["name"])
        tags = validation.tags(body.get("tags", []))
        platform = validation.platform(body.get("platform", "linux"))
        doc, token = await self.toolbox.agents.create(name, tags, platform)
        await self.audit("agent.create", name, tags=tags, platform=platform)
        self.write_json(dict(self.toolbox.agents.model(doc), token=token), status=201)


class AgentHandler(APIHandler):
    @require_role("viewer")
    async def get(self, name: str) -> None:
        """One agent."""
        doc = await self.toolbox.agents.require(name)
        self.write_json(self.toolbox.agents.model(doc))

    @require_role("admin")
    async def patch(self, name: str) -> None:
        """Change tags, platform, or disabled."""
        changes = validation.agent_changes(self.json_body())
        doc = await self.toolbox.fleet.change(name, changes)
        if changes.disabled is not None:
            await self.audit("agent.disable" if changes.disabled else "agent.enable", name)
        if changes.tags is not None or changes.platform is not None:
            await self.audit("agent.update", name, **{k: v for k, v in changes.fields().items() if k != "disabled"})
        self.write_json(self.toolbox.agents.model(doc))

    @require_role("admin")
    async def delete(self, name: str) -> None:
        """Delete an agent; its queued tasks are canceled and its task in flight ends lost."""
        await self.toolbox.agents.require(name)
        canceled = await self.toolbox.fleet.delete(name)
        await self.audit("agent.delete", name, canceled_tasks=len(canceled))
        self.write_json({"status": True, "name": name, "canceled_tasks": [doc["_id"] for doc in canceled]})


class AgentTokenHandler(APIHandler):
    @require_role("admin")
    async def post(self, name: str) -> None:
        """Reset the agent's token: the old one stops working at once."""
        await self.toolbox.agents.require(name)
        doc, token = await self.toolbox.agents.reset_token(name)
        await self.audit("agent.token_reset", name)
        self.write_json({"name": name, "token": token})


default_handlers = [
    (r"/api/agents", AgentsHandler),
    (rf"/api/agents/{NAME}/token", AgentTokenHandler),
    (rf"/api/agents/{NAME}", AgentHandler),
]
