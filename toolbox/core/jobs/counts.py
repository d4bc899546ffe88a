"""Counting a job's tasks as they move: state and outcome tallies, and what they add up to.

``LiveJob`` keeps, for a job still being counted, every task's state and (once
finished) its outcome, as running tallies (O(1) per task event).  ``job_summary``
and ``job_outcome`` turn the counts into what a person reads: "3 ok · 1 failed · 1
agent went offline", and one outcome for the whole job once it has ended.
"""

import asyncio

from toolbox.task_states import (AGENT_OFFLINE, CANCELED, DELIVERY_TIMEOUT, DISPATCHED, DONE, LOST, QUEUED, TASK_STATES,
                                 TERMINAL_STATES)
from toolbox.tools.outcomes import FAILED, OK, PARTIAL
from toolbox.store.db import Doc

_RANK = {QUEUED: 0, DISPATCHED: 1}


OUTCOME_KEYS = (OK, PARTIAL, FAILED, LOST, DELIVERY_TIMEOUT, CANCELED)


class LiveJob:
    """A job whose tasks are still being counted: its document and each task's state."""

    def __init__(self, doc: Doc, stored: list[Doc] | None = None) -> None:
        """``stored``: the job's tasks as read from the database, when a process adopts a job
        whose creator is gone (they are all it will ever have).  A new job learns its tasks
        from ``queued``, as they are created."""
        self.doc = doc
        self.states: dict[int, str] = {}  # task id -> task state (change it through ``advance`` / ``load``)
        self.tally = dict.fromkeys(TASK_STATES, 0)  # state -> how many tasks are in it
        self.outcomes = dict.fromkeys(OUTCOME_KEYS, 0)  # finished tasks by outcome
        self.offline = 0  # lost tasks whose agent went offline
        self.unfinished = 0  # tasks in ``states`` not yet in a terminal state
        self.ended = False
        self.dirty = False
        self.saver: asyncio.Future[None] | None = None
        self.announced_at = float("-inf")  # loop time of the last job.progress
        self.announcement: asyncio.TimerHandle | None = None  # a job.progress due at the interval's end
        self._read: dict[int, tuple[str, str | None]] = {}  # task id -> (outcome, reason) counted in ``outcomes``
        self._roster = doc["counts"]["requested"]  # tasks to know of before the job speaks
        if stored is not None:
            for task in stored:
                self.load(task["_id"], task["state"], task.get("outcome"), task.get("reason"))
            self._roster = len(self.states)

    @property
    def job_id(self) -> int:
        return self.doc["_id"]

    def queued(self, tasks: list[Doc]) -> None:
        """Add tasks just created (their first state; an event about one may have come first)."""
        for task in tasks:
            self.advance(task["_id"], QUEUED)

    def known(self) -> bool:
        """Every task of the job is in the tally: from now on its counts mean something.

        While a job's tasks are still being created, a fast agent may already answer the
        first of them; the job announces nothing until it knows them all (its
        ``job.created`` carries the counts so far)."""
        return len(self.states) >= self._roster

    def advance(self, task_id: int, state: str, outcome: str | None = None, reason: str | None = None) -> bool:
        """Record a task's new state; False when it is stale (events may cross)."""
        old = self.states.get(task_id)
        if old == state:
            return False
        if old in TERMINAL_STATES and not (old == LOST and state == DONE):
            return False  # finished is final, except a late result for a lost task
        if old in _RANK and state in _RANK and _RANK[state] < _RANK[old]:
            return False
        self.load(task_id, state, outcome, reason)
        return True

    def load(self, task_id: int, state: str, outcome: str | None = None, reason: str | None = None) -> None:
        """Set a task's state (and outcome) unconditionally, keeping the tallies (O(1))."""
        old = self.states.get(task_id)
        if old is not None:
            self.tally[old] -= 1
            self.unfinished -= old not in TERMINAL_STATES
        self.states[task_id] = state
        self.tally[state] = self.tally.get(state, 0) + 1
        self.unfinished += state not in TERMINAL_STATES
        previous = self._read.pop(task_id, None)
        if previous is not None:
            self.outcomes[previous[0]] -= 1
            self.offline -= previous[1] == AGENT_OFFLINE
        if state in TERMINAL_STATES:
            outcome = outcome if outcome in self.outcomes else (state if state != DONE else OK)
            self._read[task_id] = (outcome, reason)
            self.outcomes[outcome] += 1
            self.offline += reason == AGENT_OFFLINE

    def finished(self) -> bool:
        return len(self.states) >= self.doc["counts"]["requested"] and not self.unfinished

    def counts(self) -> dict[str, int]:
        """Counts by state (``timed_out`` = lost + not fetched), by outcome, and ``unfinished``:
        the tasks that had not finished when the job ended (counted as timed out too)."""
        tally = self.tally
        counts = {"requested": self.doc["counts"]["requested"], "queued": tally[QUEUED],
                  "dispatched": tally[DISPATCHED], "done": tally[DONE],
                  "timed_out": tally[DELIVERY_TIMEOUT] + tally[LOST], "canceled": tally[CANCELED],
                  **self.outcomes, "offline": self.offline, "unfinished": 0}
        if self.ended:  # what never finished by the end counts as timed out
            counts["unfinished"] = (counts["requested"] - counts["done"] - counts["canceled"]
                                    - counts["timed_out"])
            counts["timed_out"] += counts["unfinished"]
            counts["queued"] = counts["dispatched"] = 0
        return counts


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def job_summary(counts: dict[str, int], ended: bool) -> str:
    """One line: "3 ok · 1 failed · 1 agent went offline" (and what still runs, while it runs)."""
    offline = counts.get("offline", 0)
    parts = [f"{counts[key]} {key}" for key in (OK, PARTIAL, FAILED) if counts.get(key)]
    if offline:
        parts.append(_plural(offline, "agent went offline", "agents went offline"))
    if counts.get(LOST, 0) - offline:
        parts.append(f"{counts[LOST] - offline} timed out")
    if counts.get(DELIVERY_TIMEOUT):
        parts.append(f"{counts[DELIVERY_TIMEOUT]} never fetched")
    if counts.get(CANCELED):
        parts.append(f"{counts[CANCELED]} canceled")
    if ended and counts.get("unfinished"):
        parts.append(f"{counts['unfinished']} unfinished at the deadline")
    if not ended:
        if counts.get(DISPATCHED):
            parts.append(f"{counts[DISPATCHED]} running")
        if counts.get(QUEUED):
            parts.append(f"{counts[QUEUED]} waiting")
    return " · ".join(parts) or "no tasks"


def job_outcome(counts: dict[str, int], ended: bool) -> str | None:
    """``ok`` when every task was ok, ``failed`` when none was ok or partial, else ``partial``;
    None while the job runs."""
    if not ended:
        return None
    if counts.get(OK, 0) == counts["requested"]:
        return OK
    if not counts.get(OK, 0) and not counts.get(PARTIAL, 0):
        return FAILED
    return PARTIAL
