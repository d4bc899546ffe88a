"""What a schedule is made of, checked once: a job's spec plus when it repeats.

``schedule_fields(body)`` checks a ``POST /api/schedules`` body (every field) and
``schedule_changes(body, current)`` a ``PATCH`` (only the fields sent), each returning the
fields to store.  Pure functions (no I/O): the tool request is validated by the catalogue
(``tool_request``), the agent selection by shape only (tags are resolved at each round).
"""

import datetime
from typing import Any

from toolbox import validation
from toolbox.core.jobs.selection import TAGS_MATCH, agent_names
from toolbox.errors import ValidationError
from toolbox.tools.catalogue import ToolError, tool_request

MIN_INTERVAL, MAX_INTERVAL = 60, 86400
MAX_NAME = 100
SPEC_FIELDS = ("tool", "params", "agents", "tags", "tags_match", "all")
TIMING_FIELDS = ("interval", "spread", "start_at", "stop_at", "enabled", "name")
CREATE_FIELDS = SPEC_FIELDS + TIMING_FIELDS + ("owner",)


def parse_time(value: Any, field: str) -> datetime.datetime | None:
    """An ISO-8601 date-time with a time zone (``Z`` or an offset) in UTC, or None."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise ValidationError(f"{field}: an ISO-8601 date-time such as 2026-01-31T12:00:00Z, or null")
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValidationError(f"{field}: an ISO-8601 date-time such as 2026-01-31T12:00:00Z, or null") from None
    if parsed.tzinfo is None:
        raise ValidationError(f"{field}: give a time zone (Z or +hh:mm)")
    parsed = parsed.astimezone(datetime.timezone.utc)
    return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)


def _spread(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValidationError("spread: a fraction of the interval from 0 to 1")
    return float(value)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
        raise ValidationError(f"name: 1 to {MAX_NAME} characters")
    return value.strip()


def check_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The job part of a schedule, normalized: ``{tool, params, target, agents | tags (+tags_match) | all}``."""
    try:
        request = tool_request(spec.get("tool"), spec.get("params"))  # type: ignore[arg-type]  # it checks the type
    except ToolError as error:
        raise ValidationError(error.message) from None
    chosen = {key: spec.get(key) for key in ("agents", "tags", "all") if spec.get(key) not in (None, False)}
    if len(chosen) != 1:
        raise ValidationError("select agents with exactly one of agents, tags or all")
    fields: dict[str, Any] = {"tool": request.tool, "params": request.params, "target": request.target,
                              "agents": None, "tags": None, "tags_match": None, "all": False}
    if "agents" in chosen:
        fields["agents"] = agent_names(chosen["agents"])
    elif "tags" in chosen:
        fields["tags"] = validation.tags(chosen["tags"])
        if not fields["tags"]:
            raise ValidationError("tags: give at least one tag")
        match = spec.get("tags_match")
        if match not in (None, *TAGS_MATCH):
            raise ValidationError(f"tags_match: must be one of {', '.join(TAGS_MATCH)}")
        fields["tags_match"] = match or "all"
    elif chosen["all"] is not True:
        raise ValidationError("all: must be true")
    else:
        fields["all"] = True
    if spec.get("tags_match") is not None and "tags" not in chosen:
        raise ValidationError("tags_match: only with tags")
    return fields


def _timing(body: dict[str, Any], fields: dict[str, Any]) -> None:
    if "interval" in body:
        fields["interval"] = validation.int_in(body["interval"], "interval", MIN_INTERVAL, MAX_INTERVAL)
    if "spread" in body:
        fields["spread"] = _spread(body["spread"])
    for key in ("start_at", "stop_at"):
        if key in body:
            fields[key] = parse_time(body[key], key)
    if "enabled" in body:
        fields["enabled"] = validation.boolean(body["enabled"], "enabled")
    if "name" in body:
        fields["name"] = _name(body["name"])


def _check_window(start: datetime.datetime | None, stop: datetime.datetime | None) -> None:
    if start is not None and stop is not None and stop <= start:
        raise ValidationError("stop_at: must be later than start_at")


def schedule_fields(body: Any) -> dict[str, Any]:
    """The fields of a new schedule from a ``POST`` body (``owner`` is the caller's to check)."""
    validation.check_fields(body, CREATE_FIELDS, required=("tool", "interval"))
    fields = check_spec(body)
    fields.update(spread=0.0, start_at=None, stop_at=None, enabled=True)
    _timing(body, fields)
    fields.setdefault("name", f"{fields['tool']} {fields['target']}"[:MAX_NAME])
    _check_window(fields["start_at"], fields["stop_at"])
    return fields


def schedule_changes(body: Any, current: dict[str, Any]) -> dict[str, Any]:
    """The fields a ``PATCH`` body changes (the spec is checked whole when any part of it is sent)."""
    validation.check_fields(body, CREATE_FIELDS)
    if not body:
        raise ValidationError("nothing to change: send at least one field")
    changes: dict[str, Any] = {}
    if any(key in body for key in SPEC_FIELDS):
        spec = {key: current.get(key) for key in SPEC_FIELDS}
        if any(key in body for key in ("agents", "tags", "all")):
            spec.update(agents=None, tags=None, all=None, tags_match=None)
        spec.update({key: body[key] for key in SPEC_FIELDS if key in body})
        changes.update(check_spec(spec))
    _timing(body, changes)
    _check_window(changes.get("start_at", current.get("start_at")), changes.get("stop_at", current.get("stop_at")))
    return changes
