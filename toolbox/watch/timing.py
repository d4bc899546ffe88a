"""When a schedule's rounds fall: its first run, the next one, the slot a late tick fires,
and when within a round each agent's task is released.

Pure functions over schedule documents (``interval`` seconds, ``spread`` fraction,
``start_at``/``stop_at``, ``enabled``).  Spread does two things, each a fixed offset in
``[0, spread × interval)`` (the same on every process: hashes, not Python's ``hash``):

- the schedule's rounds are offset from its start by a phase drawn from its id, so the
  rounds of many schedules set up at once (200 of them) are not all due in one second;
- each agent's task of a round is released ``task_delay`` after the round's due time (its
  job is created then), drawn from the schedule and the agent's name, so 1,000 agents do
  not run (nor answer) at once (RIPE Atlas's spread).

Both are constant shifts, so each agent still runs every ``interval`` exactly.
"""

import datetime
import hashlib

from toolbox.store.db import Doc


def phase(doc: Doc) -> datetime.timedelta:
    """The schedule's fixed offset within ``spread × interval``."""
    fraction = (int(doc["_id"]) * 2654435761 % 4294967296) / 4294967296  # Knuth's multiplicative hash
    return datetime.timedelta(seconds=round(fraction * doc.get("spread", 0.0) * doc["interval"], 3))


def task_delay(doc: Doc, agent: str) -> float:
    """Seconds after a round's due time at which ``agent``'s task of it is released."""
    spread = doc.get("spread") or 0.0
    if not spread:
        return 0.0
    digest = hashlib.sha1(f"{doc['_id']}:{agent}".encode()).digest()
    fraction = int.from_bytes(digest[:4], "big") / 2 ** 32
    return round(fraction * spread * doc["interval"], 3)


def task_delays(doc: Doc, agents: list[str]) -> dict[str, float]:
    """``task_delay`` of each of ``agents`` (none when the schedule has no spread)."""
    return {agent: task_delay(doc, agent) for agent in agents} if doc.get("spread") else {}


def first_run(doc: Doc, now: datetime.datetime) -> datetime.datetime | None:
    """When an enabled schedule (new, re-enabled or re-timed) runs first; None: never again."""
    if not doc.get("enabled", True):
        return None
    start = doc.get("start_at")
    base = start if start is not None and start > now else now
    return within_window(doc, base + phase(doc))


def retimed_run(before: Doc, after: Doc, now: datetime.datetime) -> datetime.datetime | None:
    """The next run once ``before``'s timing is changed into ``after``'s.

    A schedule paused, ended (no next run) or not started yet, or given another
    ``start_at``, starts as a new one (``first_run``: at once, or at its start).  Otherwise
    its rhythm is kept, so a change of spread or ``stop_at`` alone fires no round at once:
    the pending next run moved by the change of phase and, once a round has run, by the
    change of interval (one new interval after the last round); never earlier than now (a
    shortened interval already over fires at once)."""
    if not after.get("enabled", True):
        return None
    pending = before.get("next_run")
    start = before.get("start_at")
    if (not before.get("enabled", True) or pending is None or (start is not None and start > now)
            or start != after.get("start_at")):
        return first_run(after, now)
    when = pending - phase(before) + phase(after)
    if before.get("last_round"):  # ``pending`` is one old interval after the last round
        when += datetime.timedelta(seconds=after["interval"] - before["interval"])
    return within_window(after, max(when, now))


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
