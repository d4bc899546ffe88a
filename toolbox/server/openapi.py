"""The OpenAPI 3.1 document of toolBox's HTTP interface, served at ``GET /api/openapi.json``.

Every route of ``toolbox.handlers.default_handlers`` is described here: its parameters, bodies,
answers and errors (``tests/test_openapi.py`` walks the live route table against this
document, so a route without a description fails, and fuzzes every operation from it).
Every operation also has a ``default`` answer: the one error shape, ``Error``.
"""

import copy
from collections.abc import Iterable
from typing import Any

from toolbox.people.principals import ROLES
from toolbox.presenters import RESULT_PREVIEW_BYTES
from toolbox.server.openapi_watch import add_watch
from toolbox.server.openapi_alerts import add_alerts
from toolbox.task_states import TASK_STATES
from toolbox.tools.catalogue import PARAM_TYPES, TOOLS
from toolbox.validation import MAX_COMMAND_LENGTH, MAX_TAGS

# A piece of the OpenAPI document (a schema, an operation, an answer).
Schema = dict[str, Any]

MAX_ID = 2**62
TOOL_PARAMS = {"type": "object", "description": "the tool's parameters by name, as GET /api/tools lists them: "
               + "; ".join(f"{tool.name}: {', '.join(p.name for p in tool.params)}" for tool in TOOLS.values())}


def _nullable(schema: Schema) -> Schema:
    schema = dict(schema)
    schema["type"] = [schema["type"], "null"]
    return schema


STRING, BOOL, INT = {"type": "string"}, {"type": "boolean"}, {"type": "integer"}
TIME = {"type": ["string", "null"], "format": "date-time"}
ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
AGENT_NAME = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"}
TAGS = {"type": "array", "maxItems": MAX_TAGS,
        "items": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$"}}
PLATFORM = {"type": "string", "enum": ["linux", "windows"]}
ROLE = {"type": "string", "enum": list(ROLES)}


def _object(properties: Schema, required: Iterable[str] = (), additional: bool = True) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if not additional:
        schema["additionalProperties"] = False
    return schema


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _items(name: str, paged: bool = False) -> Schema:
    properties = {"items": {"type": "array", "items": _ref(name)}}
    if paged:
        properties["next_before"] = {"type": ["integer", "string", "null"]}
    return _object(properties, ("items",) + (("next_before",) if paged else ()))


SCHEMAS = {
    "Error": _object({"status": {"const": False}, "error": {"type": "string", "minLength": 1}},
                     ("status", "error")),
    "Status": _object({"status": {"const": True}}, ("status",)),
    "Agent": _object({
        "name": STRING, "tags": {"type": "array", "items": STRING}, "platform": PLATFORM,
        "disabled": BOOL, "online": BOOL, "created_at": TIME, "registered_at": TIME, "last_seen": TIME,
        "address": _nullable(STRING), "user_agent": _nullable(STRING), "token_reset_at": TIME,
        "enabled_at": {**TIME, "description": "when an admin last enabled it after it was disabled"},
    }, ("name", "tags", "platform", "disabled", "online")),
    "Task": _object({
        "task_id": ID, "agent": STRING, "command": STRING, "state": {"type": "string", "enum": list(TASK_STATES)},
        "created_at": TIME, "dispatched_at": TIME, "finished_at": TIME,
        "result": {"type": ["string", "null"], "description": "the whole result (single tasks)"},
        "exit_code": _nullable(INT), "duration_ms": _nullable(INT),
        "result_truncated": BOOL, "result_recovered": BOOL, "result_repaired": BOOL,
        "command_repaired": BOOL, "job_id": _nullable(INT), "tool": _nullable(STRING),
        "target": _nullable(STRING), "created_by": _nullable(STRING),
        "time_limit": {"type": ["number", "null"], "description": "seconds the task may run"},
        "outcome": _nullable(STRING), "summary": _nullable(STRING), "reason": _nullable(STRING),
        "parsed": {"type": ["object", "null"], "description": "the result turned into numbers"},
        "partial": {"oneOf": [{"type": "null"}, _ref("PartialOutput")],
                    "description": "while toolbox-agent runs the task: its output so far"},
    }, ("task_id", "agent", "command", "state")),
    "PartialOutput": _object({
        "output": {"type": "string", "description": "the last 16 KiB of the output so far"},
        "bytes": {"type": "integer", "minimum": 0, "description": "bytes written so far in all"},
        "at": TIME,
        "reading": {"type": "object", "description": "so far: ping received, sent, last_rtt_ms; "
                                                     "traceroute/mtr hops, last_hop"},
    }, ("output", "bytes")),
    "TaskListItem": {"allOf": [_ref("Task"), _object({
        "result_preview": {"type": ["string", "null"],
                           "description": f"the first {RESULT_PREVIEW_BYTES} bytes of the result"},
        "result_bytes": {"type": "integer", "minimum": 0, "description": "size of the whole result"},
    }, ("result_preview", "result_bytes"))]},
    "Job": _object({
        "job_id": ID, "tool": STRING, "params": {"type": "object"}, "target": STRING,
        "created_by": _nullable(STRING), "created_at": TIME, "deadline": TIME, "finished_at": TIME,
        "state": {"type": "string", "enum": ["running", "done", "canceled"]},
        "agents": {"type": "array", "items": STRING}, "offline_agents": {"type": "array", "items": STRING},
        "skipped": {"type": "array", "items": _object({"agent": STRING, "reason": STRING})},
        "counts": {"type": "object", "additionalProperties": INT},
        "tasks": {"type": "array", "items": _ref("TaskListItem")},
        "summary": _nullable(STRING), "outcome": _nullable(STRING),
        "schedule_id": {"type": ["integer", "null"], "description": "the schedule whose round this job is"},
        "round_at": TIME,
    }, ("job_id", "tool", "params", "target", "state", "counts")),
    "Tool": _object({"name": STRING, "title": STRING, "description": STRING,
                     "platforms": {"type": "array", "items": STRING},
                     "params": {"type": "array", "items": _ref("ToolParam")}}, ("name", "params")),
    "ToolParam": _object({
        "name": STRING, "type": {"type": "string", "enum": list(PARAM_TYPES),
                                 "description": "number: decimal seconds, at most 3 decimals"},
        "required": BOOL, "default": {"description": "used when the parameter is absent (null: none)"},
        "min": {"type": ["number", "null"]}, "max": {"type": ["number", "null"]},
        "choices": {"type": ["array", "null"], "items": STRING}, "description": STRING,
    }, ("name", "type", "required")),
    "ApiToken": _object({"id": STRING, "name": STRING, "user_id": STRING, "created_at": TIME,
                         "expires_at": TIME, "last_used_at": TIME}, ("id", "name", "user_id")),
    "User": _object({"id": STRING, "name": STRING, "en_name": _nullable(STRING), "email": _nullable(STRING),
                     "avatar_url": _nullable(STRING), "role": ROLE, "disabled": BOOL, "created_at": TIME,
                     "last_login_at": TIME, "union_id": _nullable(STRING), "tenant_key": _nullable(STRING),
                     "local": BOOL}, ("id", "name", "role", "disabled")),
    "Me": _object({"id": _nullable(STRING), "name": STRING, "email": _nullable(STRING),
                   "avatar_url": _nullable(STRING), "role": ROLE, "via": STRING,
                   "roles": {"type": "array", "items": ROLE, "description": "every role, least first"}},
                  ("name", "role", "via", "roles")),
    "AuditEntry": _object({"id": STRING, "at": TIME, "actor": _nullable(STRING), "actor_id": _nullable(STRING),
                           "role": _nullable(STRING), "action": STRING, "target": {},
                           "outcome": _nullable(STRING), "details": {"type": "object"},
                           "address": _nullable(STRING)}, ("id", "at", "action", "details")),
    "AgentTask": _object({"task_id": {"type": "integer", "minimum": 0}, "command": STRING,
                          "timeout": {"type": "number", "description": "seconds the command may run"},
                          "stop": {"type": "array", "items": ID,
                                   "description": "toolbox-agent only, with task_id 0: tasks to stop now"}},
                         ("task_id", "command")),
    "ResultReport": _object({
        "name": STRING, "task_id": {"oneOf": [ID, {"type": "string", "pattern": "^[0-9]{1,18}$"}]},
        "result": STRING, "exit_code": INT, "duration_ms": {"type": "integer", "minimum": 0},
    }, ("name", "task_id")),
    "ResultStored": _object({"status": {"const": True}, "task_id": ID, "duplicate": BOOL,
                             "result_truncated": BOOL, "result_recovered": BOOL, "result_repaired": BOOL},
                            ("status", "task_id")),
}

BEARER: list[dict] = [{"bearerAuth": []}, {"sessionCookie": []}]
AGENT: list[dict] = [{"agentToken": []}]
PUBLIC: list[dict] = []


def _json(schema: Schema) -> Schema:
    return {"content": {"application/json": {"schema": schema}}}


def _answer(description: str, schema: Schema | None = None) -> Schema:
    answer: Schema = {"description": description}
    if schema is not None:
        answer.update(_json(schema))
    return answer


ERROR_TEXT = {400: "malformed request: a field is missing, of the wrong type or out of range",
              401: "no valid credentials", 403: "credentials that may not do this (a role too low, disabled)",
              404: "no such thing", 409: "the state does not allow this", 413: "body too large",
              426: "websocket version 13 required", 429: "too many attempts (see Retry-After)",
              422: "the Idempotency-Key was sent before with another body",
              503: "the database does not answer, or too many requests wait for it (see Retry-After)"}


def operation(summary: str, ok: Schema | None = None, ok_status: int = 200, errors: Iterable[int] = (),
              params: Iterable[Schema] = (), body: Schema | None = None, security: Any = BEARER,
              role: str | None = None, extra: Schema | None = None) -> Schema:
    """One operation: its answers are ``ok`` (a schema, or a full answer) plus the errors."""
    responses: Schema = {}
    if ok is not None:
        responses[str(ok_status)] = ok if "description" in ok else _answer("success", ok)
    for status in errors:
        responses[str(status)] = {"$ref": f"#/components/responses/E{status}"}
    responses["default"] = {"$ref": "#/components/responses/Error"}
    op: Schema = {"summary": summary, "responses": responses, "security": security}
    if role:
        op["description"] = f"Needs the {role} role."
    if params:
        op["parameters"] = list(params)
    if body is not None:
        op["requestBody"] = {"required": True, **_json(body)}
    op.update(extra or {})
    return op


def query(name: str, schema: Schema, description: str = "") -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def path(name: str, schema: Schema) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema}


MATCH = query("match", {"type": "string", "enum": ["part", "exact"]}, "part: text filters match a part")
IDEMPOTENCY_KEY = {"name": "Idempotency-Key", "in": "header", "required": False,
                   "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,200}$"},
                   "description": "sent again with the same key and body, the request is answered as the first "
                                  "time and creates nothing more (kept a day)"}
LIMIT = query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "page size (default 50)")
BEFORE_ID = query("before", ID, "the previous page's next_before")
TASK_ID, JOB_ID = path("task_id", ID), path("job_id", ID)
NAME = path("name", AGENT_NAME)
API = (401, 403, 503)  # 503: the database does not answer (every API operation may meet it)
HTML = {"description": "an HTML page a person reads", "content": {"text/html": {"schema": STRING}}}
REDIRECT = {"description": "a redirect (Location)"}

PATHS = {
    "/agent/new": {"post": operation(
        "Register an agent (the legacy agent reads the status only)", _ref("Status"), errors=(400, 401, 403, 413, 429),
        body=_object({"name": STRING, "token": STRING}, ("name", "token")), security=PUBLIC)},
    "/agent/task": {
        "get": operation("Long-poll for a task: {task_id: 0, command: ''} when there is none", _ref("AgentTask"),
                         errors=(400, 401, 403, 429), security=AGENT,
                         params=[{"name": "agent_name", "in": "query", "required": True, "schema": AGENT_NAME}]),
        "post": operation("Report a task's result (legacy unescaped bodies are recovered)", _ref("ResultStored"),
                          errors=(400, 401, 404, 409, 413, 429), body=_ref("ResultReport"), security=AGENT),
    },
    "/agent/task/output": {"post": operation(
        "toolbox-agent: the output so far of its running task (a few times a second); the answer "
        "says whether to stop it (canceled while it runs). The field agent never calls it",
        _object({"status": {"const": True}, "task_id": ID, "stop": BOOL}, ("status", "task_id", "stop")),
        errors=(400, 401, 403, 404, 413, 429), security=AGENT,
        body=_object({"name": STRING, "task_id": ID, "output": STRING,
                      "bytes": {"type": "integer", "minimum": 0}}, ("name", "task_id")))},
    "/api/agents": {
        "get": operation("List agents", _items("Agent"), errors=API, role="viewer"),
        "post": operation("Create an agent; the answer holds its token, shown once",
                          {"allOf": [_ref("Agent"), _object({"token": STRING}, ("token",))]}, 201,
                          errors=API + (400, 409, 413), role="admin",
                          body=_object({"name": AGENT_NAME, "tags": TAGS, "platform": PLATFORM}, ("name",), False)),
    },
    "/api/agents/{name}": {
        "get": operation("One agent", _ref("Agent"), errors=API + (404,), params=[NAME], role="viewer"),
        "patch": operation("Change tags, platform or disabled", _ref("Agent"), errors=API + (400, 404, 413),
                           params=[NAME], role="admin",
                           body=_object({"tags": TAGS, "platform": PLATFORM, "disabled": BOOL}, (), False)),
        "delete": operation("Delete an agent; its queued tasks are canceled",
                            _object({"status": {"const": True}, "name": STRING,
                                     "canceled_tasks": {"type": "array", "items": ID}}, ("status", "name")),
                            errors=API + (404,), params=[NAME], role="admin"),
    },
    "/api/agents/{name}/token": {"post": operation(
        "Reset the agent's token (the old one stops working at once)", _object({"name": STRING, "token": STRING},
                                                                               ("name", "token")),
        errors=API + (404,), params=[NAME], role="admin")},
    "/api/tasks": {
        "get": operation("List tasks, newest first (results as previews)", _items("TaskListItem", paged=True),
                         errors=API + (400,), role="viewer",
                         params=[query("agent", STRING), query("state", {"type": "string", "enum": list(TASK_STATES)}),
                                 MATCH, LIMIT, BEFORE_ID]),
        "post": operation("Queue a raw command on named agents", _items("Task"), 201,
                          errors=API + (400, 404, 409, 413, 422), role="admin", params=[IDEMPOTENCY_KEY],
                          body=_object({"agents": {"type": "array", "minItems": 1, "maxItems": 10000,
                                                   "items": AGENT_NAME},
                                        "command": {"type": "string", "minLength": 1,
                                                    "maxLength": MAX_COMMAND_LENGTH}},
                                       ("agents", "command"), False)),
    },
    "/api/tasks/{task_id}": {"get": operation("One task, with its whole result and parsed numbers", _ref("Task"),
                                              errors=API + (404,), params=[TASK_ID], role="viewer")},
    "/api/tasks/{task_id}/cancel": {"post": operation("Cancel a queued task, or stop a running one", _ref("Task"),
                                                      errors=API + (404, 409), params=[TASK_ID], role="admin")},
    "/api/tasks/{task_id}/result": {"get": operation(
        "The whole result, as a plain-text download",
        {"description": "the result", "content": {"text/plain": {"schema": STRING}}},
        errors=API + (404, 409), params=[TASK_ID], role="viewer")},
    "/api/jobs": {
        "get": operation("List jobs, newest first, without tasks", _items("Job", paged=True), errors=API + (400,),
                         role="viewer",
                         params=[query("tool", STRING), query("user", STRING), query("target", STRING),
                                 query("schedule", ID, "only the rounds of this schedule"),
                                 query("state", {"type": "string", "enum": ["running", "done", "canceled"]}),
                                 query("outcome", {"type": "string", "enum": ["ok", "partial", "failed"]},
                                       "ended jobs of this outcome (a running job has none)"),
                                 MATCH, LIMIT, BEFORE_ID]),
        "post": operation("Start a job: one tool on many agents", _ref("Job"), 201,
                          errors=API + (400, 404, 409, 413, 422, 429), role="operator", params=[IDEMPOTENCY_KEY],
                          body=_object({"tool": STRING, "params": TOOL_PARAMS,
                                        "agents": {"type": "array", "items": AGENT_NAME}, "tags": TAGS,
                                        "tags_match": {"type": "string", "enum": ["all", "any"]},
                                        "all": BOOL}, ("tool",), False)),
    },
    "/api/jobs/{job_id}": {"get": operation("One job with its tasks (results as previews)", _ref("Job"),
                                            errors=API + (404,), params=[JOB_ID], role="viewer")},
    "/api/jobs/{job_id}/export": {"get": operation(
        "The job as a file: a row per task (CSV) or everything with the whole outputs (JSON)",
        {"description": "the export", "content": {"text/csv": {"schema": STRING},
                                                  "application/json": {"schema": {"type": "object"}}}},
        errors=API + (400, 404), role="viewer",
        params=[JOB_ID, query("format", {"type": "string", "enum": ["json", "csv"]}, "default json")])},
    "/api/jobs/{job_id}/cancel": {"post": operation("Cancel a running job: its queued tasks, and stop its running ones", _ref("Job"),
                                                    errors=API + (404, 409), params=[JOB_ID], role="operator")},
    "/api/tools": {"get": operation("The tool catalogue", _items("Tool"), errors=API, role="viewer")},
    "/api/tokens": {
        "get": operation("Your API tokens", _items("ApiToken"), errors=API, role="viewer"),
        "post": operation("Create an API token (from a logged-in session); shown once",
                          {"allOf": [_ref("ApiToken"), _object({"token": STRING}, ("token",))]}, 201,
                          errors=API + (400, 409, 413), role="viewer",
                          body=_object({"name": {"type": "string", "minLength": 1, "maxLength": 100},
                                        "expires_in_days": {"type": "integer", "minimum": 1, "maximum": 3650}},
                                       ("name",), False)),
    },
    "/api/tokens/{token_id}": {"delete": operation(
        "Revoke a token", _object({"status": {"const": True}, "id": STRING}, ("status", "id")), errors=API + (404,),
        params=[path("token_id", {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"})], role="viewer")},
    "/api/me": {"get": operation("Who you are", _ref("Me"), errors=API, role="viewer")},
    "/api/users": {"get": operation("Every user", _items("User"), errors=API, role="admin")},
    "/api/users/{user_id}": {"patch": operation(
        "Change a user's role or disable them", _ref("User"), errors=API + (400, 404, 409, 413), role="admin",
        params=[path("user_id", {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$"})],
        body=_object({"role": ROLE, "disabled": BOOL}, (), False))},
    "/api/audit": {"get": operation(
        "The audit log, newest first", _items("AuditEntry", paged=True), errors=API + (400,), role="admin",
        params=[query("actor", STRING), query("action", STRING), query("target", STRING), MATCH, LIMIT,
                query("before", {"type": "string", "pattern": "^[0-9a-f]{24}$"}, "the previous page's next_before")])},
    "/api/ws": {"get": operation(
        "The live feed (websocket; same origin only): hello, then every event {seq, type, at, data}",
        {"description": "switching to the websocket protocol"}, 101, errors=API + (400, 426), role="viewer",
        params=[query("since", {"type": "integer", "minimum": 0, "maximum": MAX_ID}, "replay events after this seq")])},
    "/api/openapi.json": {"get": operation("This document", _answer("the OpenAPI document", {"type": "object"}),
                                           security=PUBLIC)},
    "/auth/info": {"get": operation("Which logins this server offers",
                                    _object({"feishu": BOOL, "local_login": BOOL}, ("feishu", "local_login")),
                                    security=PUBLIC)},
    "/auth/token": {"post": operation(
        "Log in with the admin API token (servers without Feishu; needs X-XSRFToken)", _ref("Status"),
        errors=(400, 403, 404, 413, 429), body=_object({"token": STRING}, ("token",)), security=PUBLIC)},
    "/auth/logout": {"post": operation("End this browser's session", _ref("Status"), errors=(403,),
                                       security=PUBLIC)},
    "/auth/feishu/login": {"get": operation(
        "Start a Feishu login (a redirect to Feishu)", REDIRECT, 302, security=PUBLIC,
        params=[query("next", STRING, "where to go after the login")], extra={"responses": {
            "302": REDIRECT, "404": HTML, "default": HTML}})},
    "/auth/feishu/callback": {"get": operation(
        "Finish a Feishu login (Feishu sends the browser here)", REDIRECT, 302, security=PUBLIC,
        params=[query("state", STRING), query("code", STRING), query("error", STRING)],
        extra={"responses": {"302": REDIRECT, "400": HTML, "403": HTML, "404": HTML, "429": HTML, "502": HTML,
                             "default": HTML}})},
    "/auth/local": {"get": operation(
        "The one-time local admin link (servers without Feishu)", REDIRECT, 302, security=PUBLIC,
        params=[query("token", STRING)],
        extra={"responses": {"302": REDIRECT, "403": HTML, "404": HTML, "429": HTML, "default": HTML}})},
    "/metrics": {"get": operation(
        "This server process's figures in Prometheus's text format (toolbox/server/metrics.py)",
        {"description": "the exposition", "content": {"text/plain": {"schema": STRING}}},
        errors=API, role="viewer")},
    "/healthz": {"get": operation(
        "200 while the database answers the background check (state ok, or degraded when slow, with the "
        "last round trip); 503 with the reason and Retry-After while it does not. Never waits for the database.",
        _object({"status": {"const": True}, "database": STRING,
                 "state": {"enum": ["ok", "degraded"]},
                 "rtt_ms": {"type": ["number", "null"]}, "last_ok_s_ago": {"type": ["number", "null"]}},
                ("status", "state")),
        errors=(503,), security=PUBLIC)},
    "/": {"get": operation("The console (HTML)", HTML, security=PUBLIC)},
}

add_watch(PATHS, SCHEMAS)
add_alerts(PATHS, SCHEMAS)

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "toolBox", "version": "1",
             "description": "Remote diagnostics: agents long-poll for tasks, results come back parsed. Every "
                            "error of /api and /agent is {\"status\": false, \"error\": \"...\"}."},
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "responses": {
            "Error": _answer("an error", _ref("Error")),
            **{f"E{status}": _answer(text, _ref("Error")) for status, text in ERROR_TEXT.items()},
        },
        "securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer",
                           "description": "TOOLBOX_ADMIN_TOKEN or a personal API token (tbx_...)"},
            "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "toolbox_session",
                              "description": "the console's login; writes also need X-XSRFToken"},
            "agentToken": {"type": "apiKey", "in": "header", "name": "Authorization",
                           "description": "the agent's token, raw or as Bearer"},
        },
    },
}


def document(server_url: str | None = None) -> Schema:
    """The OpenAPI document (a fresh copy), naming ``server_url`` as its server when given."""
    doc: Schema = copy.deepcopy(DOCUMENT)
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc
