"""Schedules: a job's spec run again every interval (operators their own, admins all)."""

from .base import APIHandler, id_arg, require_role
from toolbox import validation
from toolbox.errors import ValidationError
from toolbox.watch.models import round_model, schedule_model
from toolbox.watch.series_read import MAX_POINTS, MIN_POINTS, as_csv
from toolbox.watch.specs import parse_time

AUDITED = ("name", "tool", "params", "agents", "tags", "tags_match", "all", "interval", "spread", "enabled")


def _audit_view(doc: dict) -> dict:
    return {key: doc.get(key) for key in AUDITED}


class SchedulesHandler(APIHandler):
    @require_role("viewer")
    async def get(self) -> None:
        """Every schedule, newest first: ``?owner=me`` (only yours), ``limit``, ``before``."""
        args = self.query_args("owner", "limit", "before")
        limit, before = self.page_limit(args), self.page_before(args)
        owner = args.get("owner")
        if owner == "me":
            owner = self.current_user.user_id or ""
        docs = await self.toolbox.schedules.list(owner_id=owner, limit=limit, before=before)
        self.write_page([schedule_model(doc) for doc in docs], limit, "schedule_id")

    @require_role("operator")
    async def post(self) -> None:
        """Create a schedule: a job's spec plus ``interval`` (60 s to a day) and its timing."""
        doc = await self.toolbox.schedules.create(self.current_user, self.json_body())
        await self.audit("schedule.create", str(doc["_id"]), schedule_id=doc["_id"], **_audit_view(doc))
        self.write_json(schedule_model(doc), status=201)


class ScheduleHandler(APIHandler):
    @require_role("viewer")
    async def get(self, schedule_id: str) -> None:
        """One schedule, with its next run and last round."""
        self.write_json(schedule_model(await self.toolbox.schedules.get(id_arg(schedule_id, "schedule"))))

    @require_role("operator")
    async def patch(self, schedule_id: str) -> None:
        """Change a schedule (``{"enabled": false}`` pauses it)."""
        before, after = await self.toolbox.schedules.update(self.current_user, id_arg(schedule_id, "schedule"),
                                                            self.json_body())
        changed = {key: after.get(key) for key in AUDITED if before.get(key) != after.get(key)}
        await self.audit("schedule.update", str(after["_id"]), schedule_id=after["_id"], changes=changed)
        self.write_json(schedule_model(after))

    @require_role("operator")
    async def delete(self, schedule_id: str) -> None:
        """Delete a schedule, its rounds' log and its series (its jobs stay in History)."""
        doc = await self.toolbox.schedules.delete(self.current_user, id_arg(schedule_id, "schedule"))
        await self.audit("schedule.delete", str(doc["_id"]), schedule_id=doc["_id"], **_audit_view(doc))
        self.write_json({"status": True, "schedule_id": doc["_id"]})


class ScheduleRoundsHandler(APIHandler):
    @require_role("viewer")
    async def get(self, schedule_id: str) -> None:
        """The schedule's latest rounds, newest first: fired (with the job) or skipped (why)."""
        limit = validation.int_in(self.get_query_argument("limit", "50"), "limit", 1, 500)
        docs = await self.toolbox.schedules.rounds(id_arg(schedule_id, "schedule"), limit=limit)
        self.write_json({"items": [round_model(doc) for doc in docs]})


class ScheduleSeriesHandler(APIHandler):
    @require_role("viewer")
    async def get(self, schedule_id: str) -> None:
        """One series per agent: ``?agent=&from=&to=`` (ISO times; default the last 3 hours),
        raw points or a rollup tier chosen by the range and ``points`` (at most that many per
        series: the graph's width in pixels; 10 to 500, default 500); ``format=csv`` for a file."""
        args = self.query_args("agent", "from", "to", "format", "points")
        fmt = args.get("format", "json")
        if fmt not in ("json", "csv"):
            raise ValidationError("format: json or csv")
        agent = validation.agent_name(args["agent"], "agent") if "agent" in args else None
        sid = id_arg(schedule_id, "schedule")
        points = validation.int_in(args["points"], "points", MIN_POINTS, MAX_POINTS) if "points" in args else None
        answer = await self.toolbox.series_reader.read(sid, agent, parse_time(args.get("from"), "from"),
                                                       parse_time(args.get("to"), "to"), points)
        if fmt == "json":
            self.write_json(answer)
            return
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="schedule-{sid}-{answer["tier"]}.csv"')
        self.write(as_csv(answer))


default_handlers = [
    (r"/api/schedules", SchedulesHandler),
    (r"/api/schedules/(?P<schedule_id>[^/]+)/rounds", ScheduleRoundsHandler),
    (r"/api/schedules/(?P<schedule_id>[^/]+)/series", ScheduleSeriesHandler),
    (r"/api/schedules/(?P<schedule_id>[^/]+)", ScheduleHandler),
]
