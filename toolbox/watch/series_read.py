"""Reading a schedule's series: one per agent, from raw points or a rollup tier chosen by range.

``SeriesReader.read(schedule_id, agent, start, end, points)`` answers ``{tier,
bucket_seconds, series: [{agent, points}]}``, at most ``points`` per series (the caller's
pixel width: a graph draws no more; at most and by default ``MAX_POINTS``).  The tier is
the finest that fits unmerged: ``raw`` when the range holds at most ``points`` rounds and
its points are still kept, else the first of ``hour``, ``6h`` and ``day`` whose buckets over
the range are at most ``points`` (a month: 120 six-hour buckets per agent, not 720 hours
read and merged).  Only ``day`` rollups beyond ``points`` per series are merged ``k`` at a
time (counts, outcomes, min and max exactly; the mean and loss weighted by count; quantiles
as count-weighted means of the buckets' quantiles).  Raw points carry ``changed``: what
differs from the agent's previous point in the answer (``outcome``, ``route``, ``dns``,
``http``).  ``as_csv`` is the same answer as CSV rows.
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
MIN_POINTS = 10
MAX_RANGE_DAYS = 800
DEFAULT_RANGE = datetime.timedelta(hours=3)
TIER_SECONDS = {"hour": 3600, "6h": 21600, "day": 86400}  # finest first


def _raw_model(point: Doc, changed: list[str]) -> Doc:
    return {"at": isoformat(point["at"]), "job_id": point.get("job_id"), "task_id": point.get("task_id"),
            "outcome": point.get("outcome"), "value": point.get("value"), "loss": point.get("loss"),
            "numbers": point.get("n"), "reason": point.get("reason"), "changed": changed,
            **({"answers": point["answers"]} if "answers" in point else {})}


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
    get = bucket.get
    return {"at": isoformat(bucket["at"]), "count": get("count"), "outcomes": get("outcomes"), "min": get("min"),
            "avg": get("avg"), "max": get("max"), "p10": get("p10"), "median": get("median"), "p90": get("p90"),
            "loss": get("loss"), "changes": get("changes")}


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

    def tier(self, interval: int, start: datetime.datetime, end: datetime.datetime, points: int = MAX_POINTS) -> str:
        """The finest tier whose buckets over ``[start, end)`` are at most ``points`` (``day`` if none)."""
        span = (end - start).total_seconds()
        raw_kept = not self.points_days or start >= self.now() - datetime.timedelta(days=self.points_days)
        if raw_kept and span / interval <= points:
            return "raw"
        return next((tier for tier, seconds in TIER_SECONDS.items() if span / seconds <= points), "day")

    async def read(self, schedule_id: int, agent: str | None, start: datetime.datetime | None,
                   end: datetime.datetime | None, points: int | None = None) -> Doc:
        schedule = await self.schedules.get(schedule_id)
        if schedule is None:
            raise NotFound(f"schedule not found: {schedule_id}")
        end = end or self.now()
        start = start or end - DEFAULT_RANGE
        if end <= start:
            raise ValidationError("to: must be later than from")
        if end - start > datetime.timedelta(days=MAX_RANGE_DAYS):
            raise ValidationError(f"from, to: at most {MAX_RANGE_DAYS} days apart")
        most = MAX_POINTS if points is None else max(MIN_POINTS, min(MAX_POINTS, points))
        tier = self.tier(schedule["interval"], start, end, most)
        bucket = schedule["interval"]
        if tier == "raw":
            by_agent: dict[str, list[Doc]] = {}
            for point in await self.points.read_range(schedule_id, start, end, agent):
                by_agent.setdefault(point["agent"], []).append(point)
            series = [{"agent": name, "points": self._raw(found[-most:])} for name, found in sorted(by_agent.items())]
        else:
            rows_of = await self.rollups.read_series(schedule_id, tier, start, end, agent)
            k = max(1, math.ceil((end - start).total_seconds() / TIER_SECONDS[tier] / most))
            bucket = TIER_SECONDS[tier] * k
            series = [{"agent": name, "points": _merged_models(rows, k)} for name, rows in sorted(rows_of.items())]
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
