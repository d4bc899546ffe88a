"""Jobs: run one tool on many agents (operators), follow and list them (viewers)."""

from typing import Any

from .base import MAX_ID, APIHandler, id_arg, require_role
from toolbox import validation
from toolbox.errors import RateLimited
from toolbox.store.filters import match_mode
from toolbox.core.jobs.export import export_job
from toolbox.core.jobs.selection import job_request
from toolbox.presenters import job_model


class JobsHandler(APIHandler):
    @require_role("viewer")
    async def get(self) -> None:
        """List jobs, newest first, without tasks:
        ?tool=&user=&state=&outcome=&target=&schedule=&match=part&limit=&before=."""
        args = self.query_args("tool", "user", "state", "outcome", "target", "schedule", "match", "limit", "before")
        limit, before = self.page_limit(args), self.page_before(args)
        schedule = validation.int_in(args["schedule"], "schedule", 1, MAX_ID) if "schedule" in args else None
        docs = await self.toolbox.jobs.list(tool=args.get("tool"), user=args.get("user"),
                                            state=args.get("state"), limit=limit, before=before,
                                            target=args.get("target"), part=match_mode(args.get("match")),
                                            schedule=schedule, outcome=args.get("outcome"))
        self.write_page([job_model(doc) for doc in docs], limit, "job_id")

    @require_role("operator")
    async def post(self) -> None:
        """Start a job: ``{tool, params, agents: [...] | tags: [...] (tags_match: all | any) | all: true}``
        (``Idempotency-Key``: once)."""
        body = self.json_body()
        validation.check_fields(body, ("tool", "params", "agents", "tags", "tags_match", "all"), required=("tool",))
        request = job_request(body["tool"], body.get("params"), agents=body.get("agents"), tags=body.get("tags"),
                              all_agents=body.get("all"), tags_match=body.get("tags_match"))

        async def create(creation_key: str | None) -> tuple[int, Any]:
            try:
                doc, tasks = await self.toolbox.jobs.create(self.current_user, request, creation_key=creation_key)
            except RateLimited as error:
                await self.audit("job.create", None, outcome="refused", tool=str(body["tool"])[:40],
                                 reason=error.message)
                raise
            await self.audit("job.create", doc["target"], job_id=doc["_id"], tool=doc["tool"],
                             params=doc["params"], agents=doc["agents"], task_ids=[t["_id"] for t in tasks])
            return 201, job_model(doc, tasks)

        await self.created_once("jobs", body, create)


class JobHandler(APIHandler):
    @require_role("viewer")
    async def get(self, job_id: str) -> None:
        """One job with its tasks (sorted by agent), each with its parsed result."""
        doc, tasks = await self.toolbox.jobs.get(id_arg(job_id, "job"))
        self.write_json(job_model(doc, tasks))


class JobCancelHandler(APIHandler):
    @require_role("operator")
    async def post(self, job_id: str) -> None:
        """Cancel a running job: its queued tasks are canceled; delivered ones still report."""
        doc, canceled = await self.toolbox.jobs.cancel(id_arg(job_id, "job"))
        await self.audit("job.cancel", str(doc["_id"]), tool=doc["tool"], canceled_tasks=canceled)
        self.write_json(job_model(doc))


class JobExportHandler(APIHandler):
    @require_role("viewer")
    async def get(self, job_id: str) -> None:
        """The job as a file: ``?format=csv`` (a row per task) or ``json`` (with raw outputs)."""
        fmt = self.get_query_argument("format", "json")
        doc, tasks = await self.toolbox.jobs.get(id_arg(job_id, "job"))
        body, content_type, filename = export_job(doc, tasks, fmt)
        self.set_header("Content-Type", content_type)
        self.set_header("Content-Disposition", f'attachment; filename="{filename}"')
        self.write(body)


default_handlers = [
    (r"/api/jobs", JobsHandler),
    (r"/api/jobs/(?P<job_id>[^/]+)/export", JobExportHandler),
    (r"/api/jobs/(?P<job_id>[^/]+)/cancel", JobCancelHandler),
    (r"/api/jobs/(?P<job_id>[^/]+)", JobHandler),
]
