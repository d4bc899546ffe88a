"""The alerts' part of the OpenAPI document: rules, alerts, channels (``toolbox.server.openapi`` adds it)."""

from typing import Any

Schema = dict[str, Any]


def add_alerts(paths: Schema, schemas: Schema) -> None:
    """Describe ``/api/schedules/{id}/alerts…``, ``/api/alerts…`` and ``/api/channels…``."""
    from toolbox.server.openapi import (API, BEFORE_ID, BOOL, ID, INT, LIMIT, STRING, TIME, _items, _nullable,
                                        _object, _ref, operation, path, query)
    from toolbox.alerts.rules import CHANGES, HTTP_CLASSES, MAX_REMIND_MINUTES, MAX_ROUNDS, METRICS, OPS, OUTCOMES
    from toolbox.watch.points import MAX_ANSWER_CHARS, MAX_EXPECTED

    rounds = {"type": "integer", "minimum": 1, "maximum": MAX_ROUNDS}
    when = {"oneOf": [
        _object({"outcome": {"type": "string", "enum": list(OUTCOMES)}}, ("outcome",), False),
        _object({"metric": {"type": "string", "enum": list(METRICS)}, "op": {"type": "string", "enum": list(OPS)},
                 "value": {"type": "number"}}, ("metric", "op", "value"), False),
        _object({"http_class": {"type": "string", "enum": list(HTTP_CLASSES)}}, ("http_class",), False),
        _object({"changed": {"type": "string", "enum": list(CHANGES)}}, ("changed",), False),
        _object({"tcp": {"type": "string", "enum": ["refused"]}}, ("tcp",), False),
        _object({"dns_expected": {
            "type": "array", "minItems": 1, "maxItems": MAX_EXPECTED,
            "items": {"type": "string", "minLength": 1, "maxLength": MAX_ANSWER_CHARS},
            "description": "a dig point matches when its final answers (CNAMEs on the way left out) are not all "
                           "in this set, or it has none; compared without case and trailing dot"}},
            ("dns_expected",), False)],
        "description": "the condition on one agent's point of a round"}
    fields = {"name": _nullable({"type": "string", "minLength": 1, "maxLength": 100}), "when": when,
              "min_agents": {"type": "integer", "minimum": 1, "maximum": 10000,
                             "description": "agents that must match for a round to violate the rule"},
              "min_pct": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 100,
                          "description": "instead of min_agents: this % of the round's agents"},
              "rounds": dict(rounds, description="K: violating rounds needed among the last of_rounds"),
              "of_rounds": dict(rounds, description="M (default: rounds)"),
              "clear_after": dict(rounds, description="consecutive clean rounds that resolve the alert"),
              "channels": {"type": "array", "items": ID, "maxItems": 20},
              "remind_every": {"type": "integer", "minimum": 0, "maximum": MAX_REMIND_MINUTES,
                               "description": "minutes between reminders while firing (0: none)"},
              "enabled": BOOL}
    changes = dict(fields, silenced_until=_nullable({"type": "string", "format": "date-time"}))
    schemas["AlertRule"] = _object(dict(fields, rule_id=ID, schedule_id=ID, created_by=_nullable(STRING),
                                        silenced_until=TIME, created_at=TIME, updated_at=TIME, firing=BOOL,
                                        alert_id=_nullable(INT), window={"type": "array", "items": BOOL}),
                                   ("rule_id", "schedule_id", "when"))
    seen = _object({"agent": STRING, "outcome": _nullable(STRING), "value_ms": {"type": ["number", "null"]},
                    "loss_pct": {"type": ["number", "null"]}, "status": {}, "reason": _nullable(STRING),
                    "task_id": _nullable(INT),
                    "answers": {"type": "array", "items": STRING, "description": "a dig point's final answers"}},
                   ("agent",))
    notification = _object({
        "notification_id": STRING, "alert_id": _nullable(INT), "rule_id": _nullable(INT), "channel_id": ID,
        "channel_type": _nullable(STRING), "kind": {"type": "string", "enum": ["fire", "clear", "remind", "test"]},
        "state": {"type": "string", "enum": ["pending", "sending", "sent", "failed"]}, "tries": INT,
        "last_error": _nullable(STRING), "status": _nullable(INT), "title": _nullable(STRING),
        "created_at": TIME, "sent_at": TIME, "next_try_at": TIME}, ("notification_id", "state", "tries"))
    schemas["Notification"] = notification
    alert = {"alert_id": ID, "rule_id": ID, "schedule_id": ID, "rule_name": _nullable(STRING),
             "schedule_name": _nullable(STRING), "target": _nullable(STRING), "tool": _nullable(STRING),
             "when": {"type": ["object", "null"]}, "state": {"type": "string", "enum": ["firing", "resolved"]},
             "agents": {"type": "array", "items": seen}, "started_at": TIME, "fired_at": TIME,
             "resolved_at": TIME, "job_id": _nullable(INT), "last_job_id": _nullable(INT),
             "resolved_job_id": _nullable(INT),
             "rounds": {"type": "array", "items": _object({"at": TIME, "job_id": _nullable(INT), "matched": INT,
                                                          "total": INT})},
             "acknowledged_by": _nullable(STRING), "acknowledged_at": TIME, "silenced_until": TIME, "reminders": INT}
    schemas["Alert"] = _object(alert, ("alert_id", "rule_id", "state", "agents"))
    schemas["AlertDetail"] = _object(dict(alert, notifications={"type": "array", "items": _ref("Notification")}),
                                     ("alert_id", "state", "notifications"))
    schemas["Channel"] = _object({"channel_id": ID, "type": {"type": "string", "enum": ["feishu", "webhook"]},
                                  "name": STRING, "url": {"type": "string", "description": "admins only"},
                                  "has_secret": BOOL, "created_at": TIME, "created_by": _nullable(STRING)},
                                 ("channel_id", "type", "name", "has_secret"))
    sid, rid, aid, cid = path("schedule_id", ID), path("rule_id", ID), path("alert_id", ID), path("channel_id", ID)
    paths["/api/schedules/{schedule_id}/alerts"] = {
        "get": operation("The schedule's alert rules", _items("AlertRule"), errors=API + (404,), params=[sid],
                         role="viewer"),
        "post": operation("A new alert rule on the schedule (operators: their own schedules)", _ref("AlertRule"),
                          201, errors=API + (400, 404, 413), params=[sid], role="operator",
                          body=_object(fields, ("when",), False)),
    }
    paths["/api/schedules/{schedule_id}/alerts/{rule_id}"] = {
        "get": operation("One alert rule", _ref("AlertRule"), errors=API + (404,), params=[sid, rid], role="viewer"),
        "patch": operation("Change an alert rule (silenced_until: no notification until then)", _ref("AlertRule"),
                           errors=API + (400, 404, 413), params=[sid, rid], role="operator",
                           body=_object(changes, (), False)),
        "delete": operation("Delete an alert rule (its alerts stay)",
                            _object({"status": {"const": True}, "rule_id": ID}, ("status", "rule_id")),
                            errors=API + (404,), params=[sid, rid], role="operator"),
    }
    paths["/api/schedules/{schedule_id}/alerts/preview"] = {"post": operation(
        "What a rule would have done over the last hours of stored points (nothing is stored)",
        _object({"hours": INT, "rounds": INT, "fired": INT, "cleared": INT, "firing_now": BOOL,
                 "periods": {"type": "array", "items": _object({"from": TIME, "to": TIME})}},
                ("rounds", "fired", "cleared", "periods")),
        errors=API + (400, 404, 413), role="viewer",
        params=[sid, query("hours", {"type": "integer", "minimum": 1, "maximum": 744}, "default 24")],
        body=_object(fields, ("when",), False))}
    paths["/api/alerts"] = {"get": operation(
        "Alerts, newest first", _items("Alert", paged=True), errors=API + (400,), role="viewer",
        params=[query("state", {"type": "string", "enum": ["firing", "resolved"]}), query("rule", ID),
                query("schedule", ID), LIMIT, BEFORE_ID])}
    paths["/api/alerts/{alert_id}"] = {"get": operation(
        "One alert with its delivery log", _ref("AlertDetail"), errors=API + (404,), params=[aid], role="viewer")}
    paths["/api/alerts/{alert_id}/ack"] = {"post": operation(
        "Acknowledge a firing alert (its reminders stop)", _ref("Alert"), errors=API + (400, 404), params=[aid],
        role="operator")}
    paths["/api/alerts/{alert_id}/silence"] = {"post": operation(
        "Silence an alert until a time (null: no silence): no reminder nor clear message until then",
        _ref("Alert"), errors=API + (400, 404, 413), params=[aid], role="operator",
        body=_object({"until": _nullable({"type": "string", "format": "date-time"})}, ("until",), False))}
    paths["/api/channels"] = {
        "get": operation("Every channel (the URL for admins only; never a secret)", _items("Channel"),
                         errors=API, role="viewer"),
        "post": operation("A channel: a Feishu/Lark custom bot or a signed JSON webhook", _ref("Channel"), 201,
                          errors=API + (400, 413), role="admin",
                          body=_object({"type": {"type": "string", "enum": ["feishu", "webhook"]},
                                        "name": {"type": "string", "minLength": 1, "maxLength": 100},
                                        "url": {"type": "string", "format": "uri"},
                                        "secret": {"type": "string", "writeOnly": True, "maxLength": 512}},
                                       ("type", "name", "url"), False)),
    }
    paths["/api/channels/{channel_id}"] = {
        "get": operation("One channel", _ref("Channel"), errors=API + (404,), params=[cid], role="admin"),
        "delete": operation("Delete a channel", _object({"status": {"const": True}, "channel_id": ID},
                                                        ("status", "channel_id")),
                            errors=API + (404,), params=[cid], role="admin"),
    }
    paths["/api/channels/{channel_id}/test"] = {"post": operation(
        "Send a test message now (one try)", _ref("Notification"), errors=API + (404,), params=[cid], role="admin")}
    paths["/api/channels/{channel_id}/deliveries"] = {"get": operation(
        "The channel's delivery log, newest first", _items("Notification"), errors=API + (400, 404),
        params=[cid, query("limit", {"type": "integer", "minimum": 1, "maximum": 500})], role="admin")}
