"""When the database goes away or slows down (issue 22): a real SecantusDB on disk is
killed (SIGKILL) and started again under load, with field agents and the reference
agent working through it; a delaying proxy makes it slow.

Throughout: ``/healthz`` answers within a second, every refusal is a 503 (never another
5xx), the server logs no traceback, every task the API accepted is done once, and every
agent lives.
"""

import time

import pytest

from tests.conftest import _secantus_binary
from tests.database_faults import Creator, DiskDatabase, Prober, call, server_on, slow_database_run, unfinished
from tests.field_agent import FieldAgent
from tests.processes import AgentProcess, wait_until
from tests.test_field_agent import Server

pytestmark = [pytest.mark.slow, pytest.mark.database]


@pytest.fixture
def disk_database(tmp_path):
    binary = _secantus_binary()
    if binary is None:
        pytest.skip("no secantusd-py (TOOLBOX_TEST_SECANTUSD)")
    database = DiskDatabase(binary, tmp_path).start()
    yield database
    database.close()


def test_a_database_killed_and_started_again_under_load_loses_nothing_and_kills_no_agent(disk_database, tmp_path):
    process = server_on(disk_database.uri, tmp_path)
    server = Server(process)
    names = ["fault-a", "fault-b", "fault-c"]
    tokens = {name: server.agent(name) for name in [*names, "fault-ref"]}
    agents = [FieldAgent(server.url, name, tokens[name], interval=0.5).start() for name in names]
    reference = AgentProcess(server.url, "fault-ref", tokens["fault-ref"], cwd=tmp_path)
    health = Prober(server.url).start()
    creator = Creator(server.url, [*names, "fault-ref"]).start()
    try:
        time.sleep(3)
        disk_database.kill()
        outage = wait_until(lambda: any(status == 503 for _t, status in health.answers[-3:]), timeout=10)
        time.sleep(5)
        disk_database.start()
        back = wait_until(lambda: health.answers and health.answers[-1][1] == 200, timeout=15)
        time.sleep(3)
        creator.stop()
        answers = health.stop()
        done = wait_until(lambda: not unfinished(server.url, creator.created), timeout=40)
        print(f"\nhealth: {len(answers)} probes, max {max(t for t, _s in answers):.3f} s, "
              f"{sum(s == 503 for _t, s in answers)} said 503; creations: {creator.statuses.count(201)} 201, "
              f"{creator.statuses.count(503)} 503")
        assert outage, "/healthz never said 503 while the database was away"
        assert back, "/healthz never said 200 again after the database came back"
        slow = [(seconds, status) for seconds, status in answers if status is None or seconds > 1.0]
        assert not slow, f"{len(slow)} of {len(answers)} health probes took over 1 s"
        assert set(status for _t, status in answers) <= {200, 503}
        # 409 (with Retry-After): a retry while its first try's reservation is still held,
        # when releasing it failed in the outage too (toolbox/core/idempotency.py)
        assert set(creator.statuses) <= {201, 409, 503}, creator.statuses
        assert done, unfinished(server.url, creator.created)
        fetched = [task_id for agent in agents for task_id in agent.fetched]
        assert len(fetched) == len(set(fetched)), "a task was handed out twice"
        for task_id, output in creator.created.items():
            task = call(server.url, f"/api/tasks/{task_id}")[1]
            assert task["state"] == "done" and task["result"].strip() == output, task
        assert all(agent.crashed is None for agent in agents), [agent.crashed for agent in agents]
        assert reference.proc.poll() is None, "\n".join(reference.lines)
        log = "\n".join(process.lines)
        assert log.count("database unavailable") >= 1 and "database back after" in log
        assert " 500 " not in log and "Uncaught exception" not in log
    finally:
        creator.stop()
        health.stop()
        for agent in agents:
            agent.kill()
        reference.stop()
        assert process.stop() == 0  # and no traceback in its log (ServerProcess.stop)


def test_a_slow_database_keeps_health_and_metrics_at_once_sheds_load_and_feeds_every_agent(tmp_path):
    binary = _secantus_binary()
    if binary is None:
        pytest.skip("no secantusd-py (TOOLBOX_TEST_SECANTUSD)")
    run = slow_database_run(binary, tmp_path, delay=0.15, seconds=10.0)
    for path in ("health", "metrics"):
        late = [(seconds, status) for seconds, status in run[path] if status is None or seconds > 1.0]
        assert not late, f"{path}: {len(late)} of {len(run[path])} probes over 1 s: {late[:5]}"
    assert {status for _t, status in run["health"]} == {200} and run["state"]["state"] == "degraded"
    assert run["state"]["rtt_ms"] >= 250  # 150 ms each way
    assert set(run["creations"]) <= {201, 503} and run["done"]
    assert all(run["fetched"].values()) and not run["crashed"]  # every agent got tasks, none died
    fetched = [task_id for ids in run["fetched"].values() for task_id in ids]
    assert len(fetched) == len(set(fetched)) and set(run["created"]) <= set(fetched)
    assert 503 in run["burst"] and set(run["burst"]) <= {200, 503}  # the burst past 8 pending is shed
    assert "toolbox_requests_shed_total" in run["exposition"] and "toolbox_database_rtt_seconds_count" in run["exposition"]
    assert max(run["memory_mib"]) < 200
