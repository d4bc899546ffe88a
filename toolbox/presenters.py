"""The public JSON of toolBox's resources: what clients and consoles see of a stored document.

Documents never leave the server raw: each ``*_model`` picks the public fields and turns
datetimes into ISO strings.
"""

from toolbox import models
from toolbox.core.job_counts import job_summary
from toolbox.models import DONE
from toolbox.tools.catalogue import full_target
from toolbox.tools.outcomes import read_result


def task_json(doc):
    """A task's public JSON plus ``parsed``: its result turned into numbers, or None."""
    model = models.task_model(doc)
    model["parsed"] = doc.get("parsed")
    if doc["state"] == DONE and "outcome" not in doc:  # stored before results were read at once
        reading = read_result(doc.get("tool") or doc["command"], doc.get("result"), doc.get("exit_code"),
                              doc.get("target"))
        model.update(parsed=reading.parsed, outcome=reading.outcome, summary=reading.summary)
    return model


def job_model(doc, tasks=None):
    """A job's public JSON; with ``tasks`` (documents) when given."""
    model = {
        "job_id": doc["_id"],
        "tool": doc["tool"],
        "params": doc["params"],
        "target": doc["target"],
        "full_target": full_target(doc["tool"], doc["params"], doc["target"]),
        "created_by": doc.get("created_by"),
        "created_at": models.isoformat(doc.get("created_at")),
        "deadline": models.isoformat(doc.get("deadline")),
        "finished_at": models.isoformat(doc.get("finished_at")),
        "state": doc["state"],
        "agents": doc.get("agents", []),
        "offline_agents": doc.get("offline_agents", []),
        "skipped": doc.get("skipped", []),
        "counts": dict(doc["counts"]),
        "summary": doc.get("summary") or job_summary(doc["counts"], doc.get("finished_at") is not None),
        "outcome": doc.get("outcome"),
    }
    if tasks is not None:
        model["tasks"] = [models.with_result_preview(task_json(task))
                          for task in sorted(tasks, key=lambda t: (t["agent"], t["_id"]))]
    return model
