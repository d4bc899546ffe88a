"""``LiveJob`` keeps its counts as a running tally: the same counts as recounting every
task's state, whatever order (and staleness) the task events arrive in."""

import random

from toolbox.core.jobs.counts import LiveJob, job_outcome, job_summary
from toolbox.task_states import CANCELED, DELIVERY_TIMEOUT, DISPATCHED, DONE, LOST, QUEUED, TASK_STATES, TERMINAL_STATES

OUTCOMES = {DONE: ("ok", "partial", "failed"), LOST: ("lost",)}
REASONS = {LOST: ("agent_offline", "timeout")}


def recount(job, read):
    """The counts from scratch: ``read`` maps task id -> (state, outcome, reason) as accepted."""
    counts = {"requested": job.doc["counts"]["requested"], "queued": 0, "dispatched": 0, "done": 0,
              "timed_out": 0, "canceled": 0, "ok": 0, "partial": 0, "failed": 0, "lost": 0,
              "delivery_timeout": 0, "offline": 0, "unfinished": 0}
    for state, outcome, reason in read.values():
        counts["timed_out" if state in (DELIVERY_TIMEOUT, LOST) else state] += 1
        if state in TERMINAL_STATES and state != CANCELED:  # "canceled" is a state and an outcome
            counts[outcome or state] += 1
            counts["offline"] += reason == "agent_offline"
    return counts


def recount_finished(job):
    return len(job.states) >= job.doc["counts"]["requested"] and all(
        state in TERMINAL_STATES for state in job.states.values())


def test_tally_matches_a_recount_under_random_events():
    rng = random.Random(5)
    for _ in range(50):
        requested = rng.randint(1, 12)
        job = LiveJob({"_id": 1, "counts": {"requested": requested}})
        read = {}
        for _ in range(rng.randint(0, 60)):
            task_id, state = rng.randint(1, requested), rng.choice(TASK_STATES)
            outcome = rng.choice(OUTCOMES.get(state, (None,)))
            reason = rng.choice(REASONS.get(state, (None,)))
            if job.advance(task_id, state, outcome, reason):
                read[task_id] = (state, outcome, reason)
            assert job.counts() == recount(job, read)
            assert job.finished() == recount_finished(job)
        job.ended = True
        ended = job.counts()
        assert ended["queued"] == ended["dispatched"] == 0
        assert ended["done"] + ended["canceled"] + ended["timed_out"] == requested
        finished = sum(ended[key] for key in ("ok", "partial", "failed", "lost", "delivery_timeout", "canceled"))
        assert finished + ended["unfinished"] == requested


def test_load_overrides_and_advance_ignores_stale_events():
    job = LiveJob({"_id": 1, "counts": {"requested": 2}})
    job.load(1, DONE)
    job.load(1, QUEUED)  # load (a restart re-reading the store) sets whatever is stored
    assert job.counts()["queued"] == 1 and job.counts()["done"] == 0
    assert job.advance(1, DISPATCHED) and not job.advance(1, QUEUED)  # events may cross
    assert job.advance(1, DONE) and not job.advance(1, DISPATCHED)
    assert not job.finished()
    assert job.advance(2, LOST) and job.finished()
    assert job.advance(2, DONE, "failed")  # a late result for a lost task still counts
    assert job.counts() == {"requested": 2, "queued": 0, "dispatched": 0, "done": 2, "timed_out": 0,
                            "canceled": 0, "ok": 1, "partial": 0, "failed": 1, "lost": 0,
                            "delivery_timeout": 0, "offline": 0, "unfinished": 0}
    assert not job.advance(2, CANCELED)


def test_the_summary_and_outcome_say_what_happened():
    job = LiveJob({"_id": 1, "counts": {"requested": 5}})
    for task_id, state, outcome, reason in [(1, DONE, "ok", None), (2, DONE, "ok", None), (3, DONE, "ok", None),
                                            (4, DONE, "failed", None), (5, LOST, "lost", "agent_offline")]:
        job.advance(task_id, state, outcome, reason)
    job.ended = True
    counts = job.counts()
    assert job_summary(counts, True) == "3 ok · 1 failed · 1 agent went offline"
    assert job_outcome(counts, True) == "partial"
    assert job_outcome(counts, False) is None
    assert job_outcome({"requested": 2, "ok": 2}, True) == "ok"
    assert job_outcome({"requested": 2, "failed": 1, "lost": 1}, True) == "failed"
    running = {"requested": 3, "ok": 1, "dispatched": 1, "queued": 1}
    assert job_summary(running, False) == "1 ok · 1 running · 1 waiting"
    assert job_summary({"requested": 2, "unfinished": 2}, True) == "2 unfinished at the deadline"
