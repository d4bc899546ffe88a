"""The public JSON of toolBox's resources: what clients and consoles see of a stored document.

Documents never leave the server raw: each ``*_model`` picks the public fields and turns
datetimes into ISO strings.
"""

import datetime
from typing import Any

from toolbox.clock import isoformat
from toolbox.task_states import DONE
from toolbox.people.principals import display_name
from toolbox.tools.catalogue import full_target
from toolbox.tools.outcomes import read_result
from toolbox.store.db import Doc

RESULT_PREVIEW_BYTES = 4096  # of a result, in lists and events (the whole one on its own page)


def task_detail(doc: Doc) -> dict[str, Any]:
    """A task's public JSON plus ``parsed``: its result turned into numbers, or None."""
    model = task_model(doc)
    model["parsed"] = doc.get("parsed")
    if doc["state"] == DONE and "outcome" not in doc:  # stored before results were read at once
        reading = read_result(doc.get("tool") or doc["command"], doc.get("result"), doc.get("exit_code"),
                              doc.get("target"))
        model.update(parsed=reading.parsed, outcome=reading.outcome, summary=reading.summary)
    return model


def job_model(doc: Doc, tasks: list[Doc] | None = None) -> dict[str, Any]:
    """A job's public JSON; with ``tasks`` (documents) when given."""
    model = {
        "job_id": doc["_id"],
        "tool": doc["tool"],
        "params": doc["params"],
        "target": doc["target"],
        "full_target": full_target(doc["tool"], doc["params"], doc["target"]),
        "created_by": doc.get("created_by"),
        "created_at": isoformat(doc.get("created_at")),
        "deadline": isoformat(doc.get("deadline")),
        "finished_at": isoformat(doc.get("finished_at")),
        "state": doc["state"],
        "agents": doc.get("agents", []),
        "offline_agents": doc.get("offline_agents", []),
        "skipped": doc.get("skipped", []),
        "counts": dict(doc["counts"]),
        "summary": doc.get("summary"),
        "outcome": doc.get("outcome"),
        "schedule_id": doc.get("schedule_id"),
        "round_at": isoformat(doc.get("round_at")),
    }
    if tasks is not None:
        model["tasks"] = [with_result_preview(task_detail(task))
                          for task in sorted(tasks, key=lambda t: (t["agent"], t["_id"]))]
    return model


# --- agents and tasks ---


def agent_model(doc: Doc, online: bool = False, last_seen: datetime.datetime | None = None) -> dict[str, Any]:
    """The public JSON of an agent (never its token hash)."""
    return {
        "name": doc["_id"],
        "tags": doc.get("tags", []),
        "platform": doc.get("platform", "linux"),
        "disabled": bool(doc.get("disabled", False)),
        "online": bool(online),
        "created_at": isoformat(doc.get("created_at")),
        "registered_at": isoformat(doc.get("registered_at")),
        "last_seen": isoformat(last_seen or doc.get("last_seen")),
        "address": doc.get("address"),
        "user_agent": doc.get("user_agent"),
        "token_reset_at": isoformat(doc.get("token_reset_at")),
        "enabled_at": isoformat(doc.get("enabled_at")),  # when an admin last enabled it again
    }


def result_preview(text: str | None, limit: int = RESULT_PREVIEW_BYTES) -> tuple[str | None, int]:
    """``(preview, size_bytes)``: the first ``limit`` bytes of a result (cut on a character
    boundary) and the whole result's size in UTF-8 bytes; ``(None, 0)`` for no result."""
    if text is None:
        return None, 0
    if text.isascii():  # O(1) in CPython: a byte per character
        return text[:limit], len(text)
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text, len(data)
    return data[:limit].decode("utf-8", "ignore"), len(data)


def with_result_preview(model: dict[str, Any], limit: int = RESULT_PREVIEW_BYTES) -> dict[str, Any]:
    """A task's JSON for lists: ``result`` replaced by ``result_preview`` and ``result_bytes``
    (the whole result: ``GET /api/tasks/{id}`` or ``GET /api/tasks/{id}/result``)."""
    model = dict(model)
    model["result_preview"], model["result_bytes"] = result_preview(model.pop("result", None), limit)
    return model


def task_model(doc: Doc) -> dict[str, Any]:
    """The public JSON of a task."""
    return {
        "task_id": doc["_id"],
        "agent": doc["agent"],
        "command": doc["command"],
        "state": doc["state"],
        "created_at": isoformat(doc.get("created_at")),
        "dispatched_at": isoformat(doc.get("dispatched_at")),
        "finished_at": isoformat(doc.get("finished_at")),
        "result": doc.get("result"),
        "exit_code": doc.get("exit_code"),
        "duration_ms": doc.get("duration_ms"),
        "result_truncated": bool(doc.get("result_truncated", False)),
        "result_recovered": bool(doc.get("result_recovered", False)),
        "result_repaired": bool(doc.get("result_repaired", False)),
        "command_repaired": bool(doc.get("command_repaired", False)),
        "job_id": doc.get("job_id"),
        "tool": doc.get("tool"),
        "target": doc.get("target"),
        "created_by": doc.get("created_by"),
        "time_limit": doc.get("time_limit"),
        "outcome": doc.get("outcome"),
        "summary": doc.get("summary"),
        "reason": doc.get("reason"),
        # the output so far while toolbox-agent runs it (``toolbox.core.tasks.live_output``)
        "partial": doc.get("partial"),
    }


def task_event(doc: Doc) -> dict[str, Any]:
    """What a ``task.done`` event carries: the task, its reading, and a bounded preview.

    Consoles show a finished task from the event alone; the whole result stays one
    ``GET /api/tasks/{id}`` away (it can be megabytes, and every console gets every event).
    """
    model = task_model(doc)
    model["result_preview"], model["result_bytes"] = result_preview(model.pop("result"))
    model["parsed"] = doc.get("parsed")
    return model


# --- people ---


def user_model(doc: Doc) -> dict[str, Any]:
    """The public JSON of a user (never the revoked session list)."""
    return {
        "id": doc["_id"],
        "name": display_name(doc),
        "en_name": doc.get("en_name") or None,
        "email": doc.get("email") or doc.get("enterprise_email"),
        "avatar_url": doc.get("avatar_url"),
        "role": doc.get("role", "viewer"),
        "disabled": bool(doc.get("disabled", False)),
        "created_at": isoformat(doc.get("created_at")),
        "last_login_at": isoformat(doc.get("last_login_at")),
        "union_id": doc.get("union_id"),
        "tenant_key": doc.get("tenant_key"),
        "local": bool(doc.get("local", False)),
    }


def token_model(doc: Doc) -> dict[str, Any]:
    """The public JSON of a token (never its hash)."""
    return {
        "id": doc["_id"],
        "name": doc["name"],
        "user_id": doc["user_id"],
        "created_at": isoformat(doc["created_at"]),
        "expires_at": isoformat(doc.get("expires_at")),
        "last_used_at": isoformat(doc.get("last_used_at")),
    }


def audit_model(entry: Doc) -> dict[str, Any]:
    """The public JSON of an audit entry."""
    return {
        "id": str(entry["_id"]),
        "at": isoformat(entry["at"]),
        "actor": entry.get("actor"),
        "actor_id": entry.get("actor_id"),
        "role": entry.get("role"),
        "action": entry["action"],
        "target": entry.get("target"),
        "outcome": entry.get("outcome"),
        "details": entry.get("details") or {},
        "address": entry.get("address"),
    }
