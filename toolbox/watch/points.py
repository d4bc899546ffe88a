"""A finished task of a round as one compact point, and what a bucket of points sums up to.

Pure functions.  ``point_of(task, schedule_id, round_at)`` keeps a task event's key numbers
(what ``toolbox.tools.outcomes.read_result`` parsed): ``value`` is the tool's main time in
ms (ping's average RTT, the last hop's RTT of a trace, curl's total, dig's query time,
tcp's connect time), ``loss`` a percentage where the tool has one, ``n`` the tool's other
numbers, and ``fp`` what a change is seen in (a route fingerprint for traceroute/mtr, the
answer set's for dig, the HTTP status for curl); a dig point also keeps its final
``answers`` (``dns_answers``).  ``summarize(points)`` is a rollup's
body: count, outcomes, min/avg/max and quantiles of ``value``, mean loss, changes.
"""

import hashlib
import math
from typing import Any

from toolbox.store.db import Doc

CHANGE_KEYS = {"traceroute": "route", "mtr": "route", "dig": "dns", "curl": "http"}
MAX_EXPECTED = 32  # answers a dig point keeps, and an alert rule's expected set holds
MAX_ANSWER_CHARS = 255


def normal_answer(data: str) -> str:
    """An answer's data as it is compared: trimmed, without case and trailing dot."""
    return data.strip().rstrip(".").lower()


def dns_answers(answers: list[Doc]) -> list[str]:
    """The final answers of a dig result (``parsed["answers"]``): sorted, unique, normalised.

    A lookup of a name behind a CNAME answers the CNAME and then the addresses; the
    addresses are what it resolved to.  Where there are only CNAMEs (a CNAME query), they are.
    """
    final = [a for a in answers if str(a.get("type") or "").upper() != "CNAME"] or answers
    return sorted({normal_answer(str(a.get("data") or ""))[:MAX_ANSWER_CHARS] for a in final} - {""})[:MAX_EXPECTED]


def _fingerprint(parts: list[Any]) -> str:
    return hashlib.sha1("|".join(str(part) for part in parts).encode()).hexdigest()[:12]


def _trace(parsed: Doc, point: Doc) -> None:
    hops = parsed.get("hops") or []
    answered = [hop for hop in hops if hop.get("address")]
    last = hops[-1] if hops else {}
    if parsed.get("kind") == "mtr":
        rtt = last.get("avg_ms")
        point["loss"] = last.get("loss_pct")
        reached = bool(last.get("address")) and (last.get("loss_pct") or 0) < 100
    else:
        rtts = last.get("rtt_ms") or []
        rtt = min(rtts) if rtts else None
        reached = bool(parsed.get("reached"))
    point["value"] = rtt
    point["n"] = {"reached": reached, "hops": len(hops), "last_hop_ms": rtt}
    point["fp"] = _fingerprint([hop.get("address") or "*" for hop in hops]) if answered else None


def _numbers(tool: str, parsed: Doc, point: Doc) -> None:
    if tool == "ping":
        point["value"], point["loss"] = parsed.get("rtt_avg_ms"), parsed.get("loss_pct")
        point["n"] = {key: parsed.get(f"rtt_{key}_ms") for key in ("min", "avg", "max", "mdev")}
    elif tool in ("traceroute", "mtr"):
        _trace(parsed, point)
    elif tool == "curl":
        point["value"] = parsed.get("total_ms")
        point["n"] = {"status": parsed.get("http_status"), "total_ms": parsed.get("total_ms"),
                      "connect_ms": parsed.get("connect_ms"), "ttfb_ms": parsed.get("ttfb_ms")}
        point["fp"] = parsed.get("http_status")
    elif tool == "dig":
        point["value"] = parsed.get("query_time_ms")
        answers = sorted(f"{a.get('type')} {a.get('data')}" for a in parsed.get("answers") or [])
        point["n"] = {"status": parsed.get("status"), "answers": len(answers),
                      "query_ms": parsed.get("query_time_ms")}
        point["answers"] = dns_answers(parsed.get("answers") or [])  # what a DNS expected set is checked against
        point["fp"] = _fingerprint([parsed.get("status"), *answers])
    elif tool == "tcp":
        point["value"] = parsed.get("connect_ms")
        point["n"] = {"open": bool(parsed.get("open")), "connect_ms": parsed.get("connect_ms")}


def point_of(task: Doc, schedule_id: int, round_at: Any) -> Doc:
    """The point of a finished task (``task``: a task event's data) of a schedule's round."""
    tool = task.get("tool") or ""
    point: Doc = {"schedule_id": schedule_id, "agent": task["agent"], "at": round_at, "job_id": task.get("job_id"),
                  "task_id": task["task_id"], "tool": tool, "outcome": task.get("outcome") or "failed",
                  "value": None, "loss": None, "n": None, "fp": None}
    if task.get("state") != "done":
        point["reason"] = task.get("reason") or task.get("state")
    parsed = task.get("parsed")
    if isinstance(parsed, dict):
        _numbers(tool, parsed, point)
    if point["outcome"] == "failed":
        point["value"] = None  # a failure is marked, never drawn as a value
    return point


def changes(previous: Doc | None, point: Doc) -> list[str]:
    """What changed from ``previous`` to ``point``: ``outcome``, and ``route``/``dns``/``http``."""
    if previous is None:
        return []
    found = ["outcome"] if previous.get("outcome") != point.get("outcome") else []
    key = CHANGE_KEYS.get(point.get("tool") or "")
    if key and previous.get("fp") is not None and point.get("fp") is not None and previous["fp"] != point["fp"]:
        found.append(key)
    return found


def quantile(ordered: list[float], q: float) -> float:
    """The ``q`` quantile of sorted values (linear between the closest ranks)."""
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(points: list[Doc]) -> Doc:
    """A rollup's body from the points of one bucket (time order)."""
    values = sorted(p["value"] for p in points if isinstance(p.get("value"), (int, float)))
    losses = [p["loss"] for p in points if isinstance(p.get("loss"), (int, float))]
    outcomes: dict[str, int] = {}
    for point in points:
        outcomes[point.get("outcome") or "failed"] = outcomes.get(point.get("outcome") or "failed", 0) + 1
    body: Doc = {"count": len(points), "outcomes": outcomes, "min": None, "avg": None, "max": None,
                 "p10": None, "median": None, "p90": None,
                 "loss": round(sum(losses) / len(losses), 3) if losses else None,
                 "changes": sum(bool(changes(a, b)) for a, b in zip(points, points[1:]))}
    if values:
        body.update(min=values[0], max=values[-1], avg=round(sum(values) / len(values), 3),
                    p10=round(quantile(values, 0.1), 3), median=round(quantile(values, 0.5), 3),
                    p90=round(quantile(values, 0.9), 3))
    return body
