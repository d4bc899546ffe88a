"""The schedules' part of the OpenAPI document (``toolbox.server.openapi`` adds it to its own)."""

from typing import Any

Schema = dict[str, Any]


def add_watch(paths: Schema, schemas: Schema) -> None:
    """Describe ``/api/schedules…`` in ``paths`` and their schemas in ``schemas``."""
    from toolbox.server.openapi import (API, BEFORE_ID, BOOL, ID, INT, LIMIT, STRING, TAGS, TIME, AGENT_NAME,
                                        _items, _nullable, _object, _ref, operation, path, query)
    from toolbox.watch.specs import MAX_INTERVAL, MIN_INTERVAL

    interval = {"type": "integer", "minimum": MIN_INTERVAL, "maximum": MAX_INTERVAL,
                "description": "seconds between rounds"}
    spread = {"type": "number", "minimum": 0, "maximum": 1,
              "description": "fraction of the interval: the schedule's rounds are offset by a fixed phase "
                             "within spread × interval, and each agent's task of a round is released at "
                             "its own fixed offset within it (the task's created_at)"}
    fields = {"name": {"type": "string", "minLength": 1, "maxLength": 100}, "tool": STRING,
              "params": {"type": "object"}, "agents": {"type": "array", "items": AGENT_NAME}, "tags": TAGS,
              "tags_match": {"type": "string", "enum": ["all", "any"]}, "all": BOOL, "interval": interval,
              "spread": spread, "start_at": TIME, "stop_at": TIME, "enabled": BOOL,
              "owner": {"type": "string", "description": "a user id (admins only)"}}
    schemas["Round"] = _object({
        "schedule_id": ID, "at": TIME, "fired_at": TIME, "state": {"type": "string", "enum": ["fired", "skipped"]},
        "job_id": _nullable(INT), "reason": _nullable(STRING), "agents": INT,
        "busy": {"type": "array", "items": STRING}, "missed": INT, "late_ms": _nullable(INT),
    }, ("at", "state"))
    schemas["Schedule"] = _object({
        "schedule_id": ID, "name": STRING, "owner": _nullable(STRING), "owner_id": _nullable(STRING),
        "tool": STRING, "params": {"type": "object"}, "target": _nullable(STRING),
        "agents": {"type": ["array", "null"], "items": STRING}, "tags": {"type": ["array", "null"], "items": STRING},
        "tags_match": _nullable(STRING), "all": BOOL, "interval": interval, "spread": spread,
        "start_at": TIME, "stop_at": TIME, "enabled": BOOL, "next_run": TIME, "created_at": TIME,
        "updated_at": TIME, "last_round": {"oneOf": [_ref("Round"), {"type": "null"}]},
        "rounds": {"type": "object", "additionalProperties": INT},
    }, ("schedule_id", "name", "tool", "params", "interval", "enabled", "next_run"))
    schedule_id = path("schedule_id", ID)
    paths["/api/schedules"] = {
        "get": operation("List schedules, newest first", _items("Schedule", paged=True), errors=API + (400,),
                         role="viewer", params=[query("owner", STRING, "a user id, or me"), LIMIT, BEFORE_ID]),
        "post": operation("Create a schedule: a job's spec run every interval", _ref("Schedule"), 201,
                          errors=API + (400, 404, 413), role="operator",
                          body=_object(fields, ("tool", "interval"), False)),
    }
    paths["/api/schedules/{schedule_id}"] = {
        "get": operation("One schedule", _ref("Schedule"), errors=API + (404,), params=[schedule_id], role="viewer"),
        "patch": operation("Change a schedule (enabled: false pauses it); operators their own",
                           _ref("Schedule"), errors=API + (400, 404, 413), params=[schedule_id], role="operator",
                           body=_object(fields, (), False)),
        "delete": operation("Delete a schedule, its rounds' log and its series; operators their own",
                            _object({"status": {"const": True}, "schedule_id": ID}, ("status", "schedule_id")),
                            errors=API + (404,), params=[schedule_id], role="operator"),
    }
    paths["/api/schedules/{schedule_id}/rounds"] = {"get": operation(
        "The schedule's latest rounds, newest first: fired (with the job) or skipped (and why)",
        _items("Round"), errors=API + (400, 404), role="viewer",
        params=[schedule_id, query("limit", {"type": "integer", "minimum": 1, "maximum": 500})])}
    point = _object({"at": TIME, "job_id": _nullable(INT), "task_id": _nullable(INT), "outcome": _nullable(STRING),
                     "value": {"type": ["number", "null"], "description": "the tool's main time in ms"},
                     "loss": {"type": ["number", "null"]}, "numbers": {"type": ["object", "null"]},
                     "reason": _nullable(STRING), "changed": {"type": "array", "items": STRING},
                     "answers": {"type": "array", "items": STRING, "description": "a raw dig point's final answers"},
                     "count": INT, "outcomes": {"type": "object", "additionalProperties": INT},
                     **{key: {"type": ["number", "null"]} for key in ("min", "avg", "max", "p10", "median", "p90")},
                     "changes": INT}, ("at",))
    schemas["Series"] = _object({
        "schedule_id": ID, "tool": STRING, "tier": {"type": "string", "enum": ["raw", "hour", "6h", "day"]},
        "bucket_seconds": INT, "from": TIME, "to": TIME, "rolled_until": TIME,
        "series": {"type": "array", "items": _object({"agent": STRING, "points": {"type": "array", "items": point}},
                                                     ("agent", "points"))},
    }, ("schedule_id", "tier", "series"))
    paths["/api/schedules/{schedule_id}/series"] = {"get": operation(
        "One series per agent over a time range: raw points or hourly, six-hourly or daily rollups, chosen by "
        "the range and the points wanted per series",
        {"description": "the series", "content": {"application/json": {"schema": _ref("Series")},
                                                 "text/csv": {"schema": STRING}}},
        errors=API + (400, 404), role="viewer",
        params=[schedule_id, query("agent", AGENT_NAME), query("from", {"type": "string", "format": "date-time"}),
                query("to", {"type": "string", "format": "date-time"}),
                query("points", {"type": "integer", "minimum": 10, "maximum": 500},
                      "at most this many points per series (the graph's width in pixels); default 500"),
                query("format", {"type": "string", "enum": ["json", "csv"]}, "default json")])}
