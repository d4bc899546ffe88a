"""Reading a schedule's series: one per agent, from raw points or a rollup tier chosen by range.

``SeriesReader.read(schedule_id, agent, start, end)`` answers ``{tier, bucket_seconds,
series: [{agent, points}]}``.  The tier is the finest that fits: ``raw`` when the range
holds at most ``MAX_POINTS`` rounds and its points are still kept, else ``hour`` (for
ranges up to ``HOUR_TIER_DAYS`` days), else ``day``.  Rollups beyond ``MAX_POINTS`` per
series are merged ``k`` at a time (counts, outcomes, min and max exactly; the mean and
loss weighted by count; quantiles as count-weighted means of the buckets' quantiles).
Raw points carry ``changed``: what differs from the agent's previous point in the answer
(``outcome``, ``route``, ``dns``, ``http``).  ``as_csv`` is the same answer as CSV rows.
"""

import csv
import datetime
import io
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from toolbox.clock import isoformat
from toolbox.errors import NotFound, ValidationError
from toolbox.store.db import Doc
from toolbox.watch.points import changes

if TYPE_CHECKING:
    from toolbox.store.repos.schedules import ScheduleRepo
    from toolbox.store.repos.series_memory import Points, Rollups

MAX_POINTS = 500
HOUR_TIER_DAYS = 62
MAX_RANGE_DAYS = 800
DEFAULT_RANGE = datetime.timedelta(hours=3)
TIER_SECONDS = {"hour": 3600, "day": 86400}
ROLLUP_FIELDS = ("count", "outcomes", "min", "avg", "max", "p10", "median", "p90", "loss", "changes")


def _raw_model(point: Doc, changed: list[str]) -> Doc:
    return {"at": isoformat(point["at"]), "job_id": point.get("job_id"), "task_id": point.get("task_id"),
            "outcome": point.get("outcome"), "value": point.get("value"), "loss": point.get("loss"),
            "numbers": point.get("n"), "reason": point.get("reason"), "changed": changed}


WEIGHTED = ("avg", "p10", "median", "p90", "loss")


def merge(buckets: list[Doc]) -> Doc:
    """Several consecutive rollups of one agent as one (see the module's docstring).

    One pass over the buckets (a 30-day read of 50 agents merges 36,000 of them)."""
    outcomes: dict[str, int] = {}
    total = changed = 0
    low: Any = None
    high: Any = None
    sums = dict.fromkeys(WEIGHTED, 0.0)
    weights = dict.fromkeys(WEIGHTED, 0)
    for bucket in buckets:
        get = bucket.get
        count = get("count") or 0
        total += count
        changed += get("changes") or 0
        for outcome, n in (get("outcomes") or {}).items():
            outcomes[outcome] = outcomes.get(outcome, 0) + n
        value = get("min")
        if value is not None and (low is None or value < low):
            low = value
        value = get("max")
        if value is not None and (high is None or value > high):
            high = value
        if count:
            for key in WEIGHTED:
                value = get(key)
                if value is not None:
                    sums[key] += value * count
                    weights[key] += count
    merged = {"at": buckets[0]["at"], "count": total, "outcomes": outcomes, "min": low, "max": high,
              "changes": changed}
    for key in WEIGHTED:
        weight = weights[key]
        merged[key] = round(sums[key] / weight, 3) if weight else None
    return merged


def _rollup_model(bucket: Doc) -> Doc:
    return {"at": isoformat(bucket["at"]), **{key: bucket.get(key) for key in ROLLUP_FIELDS}}


def _merged_models(rows: list[Doc], k: int) -> list[Doc]:
    """The points of one agent's rollups merged ``k`` at a time (a merged bucket is its own model)."""
    if k == 1:
        return [_rollup_model(row) for row in rows]
    models = []
    for i in range(0, len(rows), k):
        merged = merge(rows[i:i + k])
        merged["at"] = isoformat(merged["at"])
        models.append(merged)
    return models


class SeriesReader:
    """``read`` and ``as_csv`` of a schedule's series."""

    def __init__(self, points: "Points", rollups: "Rollups", schedules: "ScheduleRepo",
                 now: Callable[[], datetime.datetime], points_days: float) -> None:
        self.points = points
        self.rollups = rollups
        self.schedules = schedules
        self.now = now
        self.points_days = points_days

    def tier(self, interval: int, start: datetime.datetime, end: datetime.datetime) -> str:
        span = (end - start).total_seconds()
        raw_kept = not self.points_days or start >= self.now() - datetime.timedelta(days=self.points_days)
        if raw_kept and span / interval <= MAX_POINTS:
            return "raw"
        return "hour" if span <= HOUR_TIER_DAYS * 86400 else "day"

    async def read(self, schedule_id: int, agent: str | None, start: datetime.datetime | None,
                   end: datetime.datetime | None) -> Doc:
        schedule = await self.schedules.get(schedule_id)
        if schedule is None:
            raise NotFound(f"schedule not found: {schedule_id}")
        end = end or self.now()
        start = start or end - DEFAULT_RANGE
        if end <= start:
            raise ValidationError("to: must be later than from")
        if end - start > datetime.timedelta(days=MAX_RANGE_DAYS):
            raise ValidationError(f"from, to: at most {MAX_RANGE_DAYS} days apart")
        tier = self.tier(schedule["interval"], start, end)
        by_agent: dict[str, list[Doc]] = {}
        bucket = schedule["interval"]
        if tier == "raw":
            for point in await self.points.read_range(schedule_id, start, end, agent):
                by_agent.setdefault(point["agent"], []).append(point)
            series = [{"agent": name, "points": self._raw(points[-MAX_POINTS:])}
                      for name, points in sorted(by_agent.items())]
        else:
            for rollup in await self.rollups.read_range(schedule_id, tier, start, end, agent):
                by_agent.setdefault(rollup["agent"], []).append(rollup)
            k = max(1, math.ceil((end - start).total_seconds() / TIER_SECONDS[tier] / MAX_POINTS))
            bucket = TIER_SECONDS[tier] * k
            series = [{"agent": name, "points": _merged_models(rows, k)} for name, rows in sorted(by_agent.items())]
        return {"schedule_id": schedule_id, "tool": schedule["tool"], "tier": tier, "bucket_seconds": bucket,
                "from": isoformat(start), "to": isoformat(end),
                "rolled_until": isoformat(schedule.get("rolled_until")), "series": series}

    @staticmethod
    def _raw(points: list[Doc]) -> list[Doc]:
        return [_raw_model(point, changes(points[i - 1] if i else None, point)) for i, point in enumerate(points)]


def as_csv(answer: Doc) -> str:
    """The series answer as CSV: a row per agent and point."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    raw = answer["tier"] == "raw"
    if raw:
        writer.writerow(["agent", "at", "outcome", "value_ms", "loss_pct", "job_id", "changed"])
    else:
        writer.writerow(["agent", "at", "count", "ok", "partial", "failed", "min_ms", "avg_ms", "max_ms",
                         "p10_ms", "median_ms", "p90_ms", "loss_pct", "changes"])
    for series in answer["series"]:
        for p in series["points"]:
            row: list[Any]
            if raw:
                row = [p["at"], p["outcome"], p["value"], p["loss"], p["job_id"], " ".join(p["changed"])]
            else:
                outcomes = p.get("outcomes") or {}
                row = [p["at"], p["count"], outcomes.get("ok", 0), outcomes.get("partial", 0),
                       outcomes.get("failed", 0)] + [p[key] for key in ("min", "avg", "max", "p10", "median",
                                                                       "p90", "loss", "changes")]
            writer.writerow([series["agent"], *["" if value is None else value for value in row]])
    return out.getvalue()
