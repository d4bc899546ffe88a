"""When a schedule's rounds fall: its first run, the next one, and the slot a late tick fires.

Pure functions over schedule documents (``interval`` seconds, ``spread`` fraction,
``start_at``/``stop_at``, ``enabled``).  Spread: a schedule's rounds are offset from
its start by a fixed phase in ``[0, spread × interval)`` drawn from its id, so the
rounds of many schedules set up at once (200 of them, each on 50 agents) do not all
fire in the same second.  The tasks of one round are one job, queued together.
"""

import datetime

from toolbox.store.db import Doc


def phase(doc: Doc) -> datetime.timedelta:
    """The schedule's fixed offset within ``spread × interval`` (the same on every process)."""
    fraction = (int(doc["_id"]) * 2654435761 % 4294967296) / 4294967296  # Knuth's multiplicative hash
    return datetime.timedelta(seconds=round(fraction * doc.get("spread", 0.0) * doc["interval"], 3))


def first_run(doc: Doc, now: datetime.datetime) -> datetime.datetime | None:
    """When an enabled schedule (new, re-enabled or re-timed) runs first; None: never again."""
    if not doc.get("enabled", True):
        return None
    start = doc.get("start_at")
    base = start if start is not None and start > now else now
    return within_window(doc, base + phase(doc))


def within_window(doc: Doc, when: datetime.datetime) -> datetime.datetime | None:
    """``when``, or None once it is past the schedule's ``stop_at``."""
    stop = doc.get("stop_at")
    return None if stop is not None and when > stop else when


def round_slot(doc: Doc, due: datetime.datetime, now: datetime.datetime) -> tuple[datetime.datetime, int]:
    """(the slot to fire now, rounds missed before it) for a round due at ``due``: rounds
    missed while no server ran are not replayed: only the latest slot at or before ``now`` runs."""
    interval = datetime.timedelta(seconds=doc["interval"])
    missed = max(0, int((now - due) / interval))
    return due + missed * interval, missed


def next_after(doc: Doc, slot: datetime.datetime) -> datetime.datetime | None:
    """The run after the one at ``slot``."""
    return within_window(doc, slot + datetime.timedelta(seconds=doc["interval"]))
