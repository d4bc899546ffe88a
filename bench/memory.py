"""Memory of a long-running embedded server under steady work (issue 11).

``python -m bench.memory --duration 120`` starts a real ``toolbox`` (embedded database),
creates 20 agents and runs the throughput load (``loadgen.throughput``: instant agents,
at most 200 unfinished raw tasks, one console) for ``duration`` seconds, sampling the
server's RSS every ``--every`` seconds.  It prints the samples and the growth per minute
over the second half of the run, when the task history cap has long been reached: a
server whose memory levels off shows a growth near zero there.  Bounded: the load
stops after ``duration`` seconds, the server is stopped after it.
"""

import argparse
import json
import tempfile
import threading
import time

from bench import loadgen
from bench.procs import Worker, start_toolbox

ADMIN = "bench-memory-admin-token-0123456789abcdef"


def run(duration, every, agents=20, extra_env=None):
    with tempfile.TemporaryDirectory() as logdir:
        server = start_toolbox(ADMIN, logdir, poll_timeout=30, extra_env=extra_env)
        try:
            names = [f"mem-{i:02d}" for i in range(agents)]
            created = Worker(loadgen.create_agents, deadline=120, host=server.host, port=server.port,
                             admin_token=ADMIN, names=names).result()
            fleet = [(name, created["tokens"][name]) for name in names]
            samples, stop = [], threading.Event()

            def sample():
                start = time.monotonic()
                while not stop.is_set():
                    samples.append((round(time.monotonic() - start, 1), server.rss_kb()))
                    stop.wait(every)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            load = Worker(loadgen.throughput, deadline=duration + 60, host=server.host, port=server.port,
                          admin_token=ADMIN, agents=fleet, duration=duration, warmup=1.0)
            result = load.result()
            stop.set()
            sampler.join(every + 1)
        finally:
            server.stop()
    half = [s for s in samples if s[0] >= duration / 2]
    growth = ((half[-1][1] - half[0][1]) / 1024) / ((half[-1][0] - half[0][0]) / 60) if len(half) > 1 else None
    return {"tasks_per_second": round(result["stored_per_second"]), "errors": result["error_count"],
            "rss_mb": [(t, round(kb / 1024, 1)) for t, kb in samples],
            "growth_mb_per_minute_second_half": round(growth, 2) if growth is not None else None}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of load (default 120)")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between RSS samples")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.duration, args.every), indent=1))


if __name__ == "__main__":
    main()
