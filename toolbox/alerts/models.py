"""The public JSON of alert rules and alerts (datetimes as ISO strings)."""

from typing import Any

from toolbox.clock import isoformat
from toolbox.store.db import Doc

RULE_KEYS = ("name", "when", "min_agents", "min_pct", "rounds", "of_rounds", "clear_after", "channels",
             "remind_every", "enabled", "created_by")


def rule_model(doc: Doc) -> dict[str, Any]:
    """A rule: what it watches, its firing rule, its channels, and where its evaluation stands."""
    state = doc.get("eval") or {}
    model = {"rule_id": doc["_id"], "schedule_id": doc["schedule_id"]}
    model.update({key: doc.get(key) for key in RULE_KEYS})
    model.update(silenced_until=isoformat(doc.get("silenced_until")), created_at=isoformat(doc.get("created_at")),
                 updated_at=isoformat(doc.get("updated_at")), firing=bool(state.get("firing")),
                 alert_id=state.get("alert_id"), window=list(state.get("window") or []))
    return model


def alert_model(doc: Doc) -> dict[str, Any]:
    """An alert: its rule and schedule, state, the agents and what each saw, its rounds."""
    return {
        "alert_id": doc["_id"], "rule_id": doc.get("rule_id"), "schedule_id": doc.get("schedule_id"),
        "rule_name": doc.get("rule_name"), "schedule_name": doc.get("schedule_name"), "target": doc.get("target"),
        "tool": doc.get("tool"), "when": doc.get("when"), "state": doc.get("state"),
        "agents": doc.get("agents") or [], "started_at": isoformat(doc.get("started_at")),
        "fired_at": isoformat(doc.get("fired_at")), "resolved_at": isoformat(doc.get("resolved_at")),
        "job_id": doc.get("job_id"), "last_job_id": doc.get("last_job_id"),
        "resolved_job_id": doc.get("resolved_job_id"),
        "rounds": [{"at": isoformat(r.get("at")), "job_id": r.get("job_id"), "matched": r.get("matched"),
                    "total": r.get("total")} for r in doc.get("rounds") or []],
        "acknowledged_by": doc.get("acknowledged_by"), "acknowledged_at": isoformat(doc.get("acknowledged_at")),
        "silenced_until": isoformat(doc.get("silenced_until")), "reminders": doc.get("reminders", 0),
    }
