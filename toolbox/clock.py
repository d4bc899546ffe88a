"""Time as toolBox stores and shows it: now in UTC at MongoDB's millisecond precision, and
the ISO-8601 strings of the public JSON."""

import datetime
import functools


def utcnow() -> datetime.datetime:
    """Now in UTC, at the millisecond precision MongoDB stores."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def aware(value: datetime.datetime) -> datetime.datetime:
    """``value`` with its time zone: a naive stored datetime is UTC (what toolBox writes)."""
    return value.replace(tzinfo=datetime.timezone.utc) if value.tzinfo is None else value


def isoformat(value: datetime.datetime | None) -> str | None:
    """An ISO-8601 string for a stored datetime (naive ones are UTC), or None."""
    if value is None:
        return None
    return _isoformat(value)


@functools.lru_cache(maxsize=4096)  # a job's tasks share their creation time: one string for all
def _isoformat(value: datetime.datetime) -> str:
    return aware(value).isoformat().replace("+00:00", "Z")
