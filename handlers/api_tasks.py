"""Admin API for raw tasks: create on named agents, read, list and cancel."""

from handlers.base import APIHandler, id_arg, require_role
from toolbox import models
from toolbox.errors import Conflict, NotFound, ValidationError
from toolbox.store.filters import match_mode
from toolbox.presenters import task_json

MAX_AGENTS_PER_REQUEST = 10000


class TasksHandler(APIHandler):
    @require_role("viewer")
    async def get(self):
        """List tasks, newest first: ?agent=&state=&match=part&limit=&before=."""
        args = self.query_args("agent", "state", "match", "limit", "before")
        limit = models.int_in(args.get("limit", 50), "limit", 1, 500)
        before = models.int_in(args["before"], "before", 1, 2**62) if "before" in args else None
        docs = await self.toolbox.tasks.list(agent=args.get("agent"), state=args.get("state"),
                                             limit=limit, before=before, part=match_mode(args.get("match")))
        items = [models.with_result_preview(models.task_model(doc)) for doc in docs]
        page = {"items": items, "next_before": items[-1]["task_id"] if len(items) == limit else None}
        self.write_json(page)

    @require_role("admin")
    async def post(self):
        """Queue a raw command on each named agent: one task per agent."""
        body = self.json_body()
        models.check_fields(body, ("agents", "command"), required=("agents", "command"))
        agents = body["agents"]
        if not isinstance(agents, list) or not agents or len(agents) > MAX_AGENTS_PER_REQUEST:
            raise ValidationError(f"agents: a list of 1 to {MAX_AGENTS_PER_REQUEST} agent names")
        names = list(dict.fromkeys(models.agent_name(name, "agents") for name in agents))
        command, repaired = models.command_repaired(body["command"])
        for name in names:
            doc = await self.toolbox.agents.require(name)
            if doc.get("disabled"):
                raise ValidationError(f"agents: agent {name} is disabled")
        docs = await self.toolbox.tasks.create(names, command, created_by=self.current_user.name,
                                               command_repaired=repaired or None)
        await self.audit("task.raw", ",".join(names)[:200], command=command, agents=names,
                         task_ids=[doc["_id"] for doc in docs])
        self.write_json({"items": [models.task_model(doc) for doc in docs]}, status=201)


class TaskHandler(APIHandler):
    @require_role("viewer")
    async def get(self, task_id):
        """One task, with its result parsed (``parsed``) when the tool's output is understood."""
        doc = await self.toolbox.tasks.find(id_arg(task_id, "task"))
        if doc is None:
            raise NotFound(f"task not found: {task_id}")
        self.write_json(task_json(doc))


class TaskResultHandler(APIHandler):
    @require_role("viewer")
    async def get(self, task_id):
        """The whole result of a task, as a plain-text download."""
        doc = await self.toolbox.tasks.find(id_arg(task_id, "task"))
        if doc is None:
            raise NotFound(f"task not found: {task_id}")
        if doc.get("result") is None:
            raise Conflict(f"task {doc['_id']} is {doc['state']}: it has no result")
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="task-{doc["_id"]}.txt"')
        self.write(doc["result"].encode("utf-8", "replace"))


class TaskCancelHandler(APIHandler):
    @require_role("admin")
    async def post(self, task_id):
        """Cancel a queued task."""
        doc = await self.toolbox.tasks.cancel(id_arg(task_id, "task"))
        await self.audit("task.cancel", str(doc["_id"]), agent=doc["agent"])
        self.write_json(models.task_model(doc))


default_handlers = [
    (r"/api/tasks", TasksHandler),
    (r"/api/tasks/(?P<task_id>[^/]+)/cancel", TaskCancelHandler),
    (r"/api/tasks/(?P<task_id>[^/]+)/result", TaskResultHandler),
    (r"/api/tasks/(?P<task_id>[^/]+)", TaskHandler),
]
