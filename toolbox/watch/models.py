"""The public JSON of schedules and their rounds (datetimes as ISO strings)."""

from typing import Any

from toolbox.clock import isoformat
from toolbox.store.db import Doc


def round_model(doc: Doc | None) -> dict[str, Any] | None:
    """A round: when, what came of it (``fired`` with its job, or ``skipped`` with the reason)."""
    if doc is None:
        return None
    return {
        "schedule_id": doc.get("schedule_id"),
        "at": isoformat(doc.get("at")),
        "fired_at": isoformat(doc.get("fired_at")),
        "state": doc.get("state"),
        "job_id": doc.get("job_id"),
        "reason": doc.get("reason"),
        "agents": doc.get("agents", 0),
        "busy": doc.get("busy", []),
        "missed": doc.get("missed", 0),
        "late_ms": doc.get("late_ms"),
    }


def schedule_model(doc: Doc) -> dict[str, Any]:
    """A schedule: the job spec, its timing, the next run and the last round."""
    rounds = doc.get("rounds") or {}
    return {
        "schedule_id": doc["_id"],
        "name": doc["name"],
        "owner": doc.get("owner"),
        "owner_id": doc.get("owner_id"),
        "tool": doc["tool"],
        "params": doc["params"],
        "target": doc.get("target"),
        "agents": doc.get("agents"),
        "tags": doc.get("tags"),
        "tags_match": doc.get("tags_match"),
        "all": bool(doc.get("all")),
        "interval": doc["interval"],
        "spread": doc.get("spread", 0.0),
        "start_at": isoformat(doc.get("start_at")),
        "stop_at": isoformat(doc.get("stop_at")),
        "enabled": bool(doc.get("enabled")),
        "next_run": isoformat(doc.get("next_run")),
        "created_at": isoformat(doc.get("created_at")),
        "updated_at": isoformat(doc.get("updated_at")),
        "last_round": round_model(doc.get("last_round")),
        "rounds": {key: int(rounds.get(key, 0)) for key in ("fired", "skipped", "missed", "busy")},
    }
