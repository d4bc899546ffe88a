"""A job as a file: CSV (one row per task, the numbers a spreadsheet compares) or JSON
(the job with its tasks, parsed results and raw outputs, as ``GET /api/jobs/{id}`` plus
``result``), for ``GET /api/jobs/{id}/export?format=csv|json``.

Works on the public models (``job_model`` with tasks), so the export says exactly what
the API and the console say.  CSV cells that a spreadsheet would run as a formula
(starting with ``= + - @`` or a tab/CR) are prefixed with ``'``: agents' outputs and
names are untrusted text.
"""

import csv
import io
import json
from typing import Any

from toolbox.errors import ValidationError
from toolbox.presenters import job_model
from toolbox.store.db import Doc

FORMATS = ("csv", "json")
TASK_COLUMNS = ("agent", "task_id", "state", "outcome", "summary", "created_at", "dispatched_at",
                "finished_at", "duration_ms", "exit_code")
# The parsed numbers worth a column, by tool (the rest is in the JSON export).
PARSED_COLUMNS = {
    "ping": ("address", "transmitted", "received", "loss_pct", "rtt_min_ms", "rtt_avg_ms", "rtt_max_ms",
             "rtt_mdev_ms"),
    "traceroute": ("address", "reached"),
    "mtr": (),
    "dig": ("status", "query_time_ms", "server"),
    "curl": ("http_status", "remote_ip", "dns_ms", "connect_ms", "tls_ms", "ttfb_ms", "total_ms", "size_bytes",
             "error"),
    "tcp": ("address", "port", "open", "error"),
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _hops(parsed: dict[str, Any]) -> str:
    """'1 10.1.0.1 0.4 ms > 2 * > ...': a route in one cell."""
    parts: list[str] = []
    for hop in parsed.get("hops") or []:
        where = hop.get("address") or hop.get("host") or "*"
        if "avg_ms" in hop:
            rtt = hop.get("avg_ms")
            loss = hop.get("loss_pct")
            parts.append(f"{hop.get('hop')} {where} {rtt} ms {loss}% loss")
        else:
            rtts = hop.get("rtt_ms") or []
            parts.append(f"{hop.get('hop')} {where}" + (f" {min(rtts)} ms" if rtts else ""))
    return " > ".join(parts)


def _answers(parsed: dict[str, Any]) -> str:
    return "; ".join(f"{a.get('type')} {a.get('data')}" for a in parsed.get("answers") or [])


def csv_rows(job: dict[str, Any]) -> list[list[str]]:
    """The CSV as rows (a header first) for a job model with tasks."""
    tool = job["tool"]
    parsed_columns = PARSED_COLUMNS.get(tool, ())
    extra = ("hops", "route") if tool in ("traceroute", "mtr") else ("answers",) if tool == "dig" else ()
    header = ["job_id", "tool", "target"] + list(TASK_COLUMNS) + list(parsed_columns) + list(extra)
    rows: list[list[Any]] = [header]
    for task in job.get("tasks") or []:
        parsed = task.get("parsed") or {}
        row = [job["job_id"], tool, job.get("full_target") or job.get("target")]
        row += [task.get(key) for key in TASK_COLUMNS]
        row += [parsed.get(key) for key in parsed_columns]
        if tool in ("traceroute", "mtr"):
            row += [len(parsed.get("hops") or []) if parsed else None, _hops(parsed) if parsed else None]
        elif tool == "dig":
            row.append(_answers(parsed) if parsed else None)
        rows.append([_cell(value) for value in row])
    return rows


def export_job(doc: Doc, tasks: list[Doc], fmt: str) -> tuple[str, str, str]:
    """(body, content type, file name) of a job document and its task documents: the job
    model of the API, every task with its whole ``result``."""
    if fmt not in FORMATS:
        raise ValidationError(f"format: must be one of {', '.join(FORMATS)}")
    job = job_model(doc, tasks)
    results = {task["_id"]: task.get("result") for task in tasks}
    for task in job["tasks"]:
        task.pop("result_preview", None)
        task.pop("result_bytes", None)
        task["result"] = results.get(task["task_id"])
    return export(job, fmt)


def export(job: dict[str, Any], fmt: str) -> tuple[str, str, str]:
    """(body text, content type, file name) of a job model with tasks in ``fmt``."""
    if fmt == "csv":
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerows(csv_rows(job))
        return out.getvalue(), "text/csv; charset=utf-8", f"job-{job['job_id']}.csv"
    text = json.dumps(job, ensure_ascii=False, indent=1)
    return text, "application/json; charset=utf-8", f"job-{job['job_id']}.json"
