"""``LiveJob`` keeps its counts as a running tally: the same counts as recounting every
task's state, whatever order (and staleness) the task events arrive in."""

import random

from toolbox.jobs import LiveJob
from toolbox.models import (CANCELED, DELIVERY_TIMEOUT, DISPATCHED, DONE, LOST, QUEUED, TASK_STATES,
                            TERMINAL_STATES)


def recount(job):
    counts = {"requested": job.doc["counts"]["requested"], "queued": 0, "dispatched": 0, "done": 0,
              "timed_out": 0, "canceled": 0}
    for state in job.states.values():
        counts["timed_out" if state in (DELIVERY_TIMEOUT, LOST) else state] += 1
    return counts


def recount_finished(job):
    return len(job.states) >= job.doc["counts"]["requested"] and all(
        state in TERMINAL_STATES for state in job.states.values())


def test_tally_matches_a_recount_under_random_events():
    rng = random.Random(5)
    for _ in range(50):
        requested = rng.randint(1, 12)
        job = LiveJob({"_id": 1, "counts": {"requested": requested}})
        for _ in range(rng.randint(0, 60)):
            job.advance(rng.randint(1, requested), rng.choice(TASK_STATES))
            assert job.counts() == recount(job)
            assert job.finished() == recount_finished(job)
        job.ended = True
        ended = job.counts()
        assert ended["queued"] == ended["dispatched"] == 0
        assert ended["done"] + ended["canceled"] + ended["timed_out"] == requested


def test_load_overrides_and_advance_ignores_stale_events():
    job = LiveJob({"_id": 1, "counts": {"requested": 2}})
    job.load(1, DONE)
    job.load(1, QUEUED)  # load (a restart re-reading the store) sets whatever is stored
    assert job.counts()["queued"] == 1 and job.counts()["done"] == 0
    assert job.advance(1, DISPATCHED) and not job.advance(1, QUEUED)  # events may cross
    assert job.advance(1, DONE) and not job.advance(1, DISPATCHED)
    assert not job.finished()
    assert job.advance(2, LOST) and job.finished()
    assert job.advance(2, DONE)  # a late result for a lost task still counts
    assert job.counts() == {"requested": 2, "queued": 0, "dispatched": 0, "done": 2, "timed_out": 0,
                            "canceled": 0}
    assert not job.advance(2, CANCELED)
