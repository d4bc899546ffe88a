"""Admin API for raw tasks: create on named agents, read, list and cancel."""

from .base import APIHandler, id_arg, require_role
from toolbox import validation
from toolbox import presenters
from toolbox.core.jobs.raw import raw_task_request
from toolbox.errors import Conflict, NotFound
from toolbox.store.filters import match_mode
from toolbox.presenters import task_detail
from toolbox.store.db import Doc


class TasksHandler(APIHandler):
    @require_role("viewer")
    async def get(self) -> None:
        """List tasks, newest first: ?agent=&state=&match=part&limit=&before=."""
        args = self.query_args("agent", "state", "match", "limit", "before")
        limit, before = self.page_limit(args), self.page_before(args)
        docs = await self.toolbox.tasks.list(agent=args.get("agent"), state=args.get("state"),
                                             limit=limit, before=before, part=match_mode(args.get("match")))
        self.write_page([presenters.with_result_preview(presenters.task_model(doc)) for doc in docs], limit, "task_id")

    @require_role("admin")
    async def post(self) -> None:
        """Queue a raw command on each named agent: one task per agent (``Idempotency-Key``: once)."""
        body = self.json_body()
        validation.check_fields(body, ("agents", "command"), required=("agents", "command"))
        request = raw_task_request(body["agents"], body["command"])

        async def create(_creation_key: str | None) -> tuple[int, Doc]:  # raw tasks keep none
            docs = await self.toolbox.raw_tasks.create(request, self.current_user.name)
            names = request.agents
            await self.audit("task.raw", ",".join(names)[:200], command=request.command, agents=names,
                             task_ids=[doc["_id"] for doc in docs])
            return 201, {"items": [presenters.task_model(doc) for doc in docs]}

        await self.created_once("tasks", body, create)


class _OneTaskHandler(APIHandler):
    async def find_task(self, task_id: str) -> Doc:
        """The task ``task_id`` (path text), live or finished; NotFound when there is none."""
        doc = await self.toolbox.tasks.find(id_arg(task_id, "task"))
        if doc is None:
            raise NotFound(f"task not found: {task_id}")
        return doc


class TaskHandler(_OneTaskHandler):
    @require_role("viewer")
    async def get(self, task_id: str) -> None:
        """One task, with its result parsed (``parsed``) when the tool's output is understood."""
        doc = await self.find_task(task_id)
        self.write_json(task_detail(doc))


class TaskResultHandler(_OneTaskHandler):
    @require_role("viewer")
    async def get(self, task_id: str) -> None:
        """The whole result of a task, as a plain-text download."""
        doc = await self.find_task(task_id)
        if doc.get("result") is None:
            raise Conflict(f"task {doc['_id']} is {doc['state']}: it has no result")
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="task-{doc["_id"]}.txt"')
        self.write(doc["result"].encode("utf-8", "replace"))


class TaskCancelHandler(APIHandler):
    @require_role("admin")
    async def post(self, task_id: str) -> None:
        """Cancel a queued task, or stop a running one."""
        doc = await self.toolbox.tasks.cancel(id_arg(task_id, "task"), running=True)
        await self.audit("task.cancel", str(doc["_id"]), agent=doc["agent"])
        self.write_json(presenters.task_model(doc))


default_handlers = [
    (r"/api/tasks", TasksHandler),
    (r"/api/tasks/(?P<task_id>[^/]+)/cancel", TaskCancelHandler),
    (r"/api/tasks/(?P<task_id>[^/]+)/result", TaskResultHandler),
    (r"/api/tasks/(?P<task_id>[^/]+)", TaskHandler),
]
