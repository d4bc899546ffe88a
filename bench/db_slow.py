"""The slow-database scenario (issue 22) with Motor's thread pool at a given size:
``python -m bench.db_slow [workers ...]`` (default: 10, Motor's 5 per CPU on 2 CPUs, and
toolBox's 64), each run on a SecantusDB 150 ms away each way (a delaying proxy on
127.0.0.1), five field agents and a task every 0.2 s for 12 s.  Prints one line of
figures per size: health and metrics latency, creation latency, requests shed, memory.
The scenario itself is ``tests.database_faults.slow_database_run`` (the test's)."""

import os
import sys
import tempfile

from tests.database_faults import percentile, slow_database_run


def figures(workers: int) -> str:
    binary = os.environ.get("TOOLBOX_TEST_SECANTUSD", "secantusd-py")
    with tempfile.TemporaryDirectory() as workdir:
        run = slow_database_run(binary, workdir, delay=0.15, workers=workers, seconds=12.0)
    health = [seconds for seconds, status in run["health"] if status is not None]
    metrics = [seconds for seconds, status in run["metrics"] if status is not None]
    within = sum(1 for seconds, status in run["health"] if status is not None and seconds <= 1.0)
    create = run["create_seconds"]
    return (f"workers {workers}: health p50 {percentile(health, 0.5):.3f} s p95 {percentile(health, 0.95):.3f} s "
            f"max {max(health):.3f} s ({within}/{len(run['health'])} within 1 s); metrics p95 "
            f"{percentile(metrics, 0.95):.3f} s max {max(metrics):.3f} s; creations {len(run['created'])} "
            f"p50 {percentile(create, 0.5):.2f} s p95 {percentile(create, 0.95):.2f} s, "
            f"{run['creations'].count(503)} answered 503; burst of 40: {run['burst'].count(503)} shed; "
            f"health said {run['state']['state']} rtt {run['state']['rtt_ms']} ms; "
            f"RSS {min(run['memory_mib']):.0f} → {max(run['memory_mib']):.0f} MiB; "
            f"all done {run['done']}, agents crashed {len(run['crashed'])}")


if __name__ == "__main__":
    for size in [int(arg) for arg in sys.argv[1:]] or [10, 64]:
        print(figures(size), flush=True)
