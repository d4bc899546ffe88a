"""Two server processes on one MongoDB-wire database, and the field agent between them.

The agent's fetches and reports go to the two processes in turn (as behind a
round-robin load balancer); tasks are created through both.  The database itself keeps
one task in flight per agent (``toolbox.claims``), so results are never crossed.
"""

import threading
import time
import uuid

import pytest

from tests.field_agent import FieldAgent
from tests.processes import ServerProcess, wait_until
from tests.test_field_agent import ADMIN, MIXED, Server

pytestmark = pytest.mark.slow


@pytest.fixture
def two_servers(mongodb_wire_uri, tmp_path):
    uri = f"{mongodb_wire_uri.rstrip('/')}/toolbox_shared_{uuid.uuid4().hex[:10]}"
    env = {"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "5", "MONGODB_URI": uri,
           "TOOLBOX_AGENT_REFRESH": "0.5"}
    processes = [ServerProcess(env=env, cwd=tmp_path)]
    processes.append(ServerProcess(env=env, cwd=tmp_path))
    yield [Server(process) for process in processes]
    for process in processes:
        assert process.stop() == 0, "\n".join(process.lines)


def test_two_processes_never_dispatch_two_tasks_to_one_agent(two_servers):
    first, second = two_servers
    token = first.agent("shared-1")
    time.sleep(1)  # the second process learns of the agent at its next refresh
    agent = FieldAgent(first.url, "shared-1", token, interval=0.2, servers=[first.url, second.url]).start()
    most_in_flight, watching = [0], threading.Event()

    def watch():  # at no moment two of its tasks dispatched, as either process sees it
        while not watching.is_set():
            for server in two_servers:
                items = server.call("/api/tasks?agent=shared-1&state=dispatched")[1]["items"]
                most_in_flight[0] = max(most_in_flight[0], len(items))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        ids = []
        for i, command in enumerate(MIXED):
            ids += (first, second)[i % 2].queue("shared-1", command)
        tasks = wait_until(lambda: first.finished(ids), timeout=90)
        assert tasks, [first.task(task_id)["state"] for task_id in ids]
        assert agent.crashed is None
        results = {task["command"]: task["result"] for task in tasks}
        assert results["echo fast-a"] == "fast-a" and results["echo fast-b"] == "fast-b"
        assert results["echo fast-c"] == "fast-c" and results["sleep 3"] == "" and results["sleep 2"] == ""
        assert "3 packets transmitted, 3 received" in results["ping -c 3 -i 0.5 127.0.0.1"]
        assert sorted(agent.fetched) == sorted(ids) and len(agent.fetched) == len(ids)
    finally:
        watching.set()
        watcher.join(5)
        agent.kill()
    assert most_in_flight[0] == 1


def test_an_agent_that_dies_while_talking_to_both_has_its_task_end_lost_within_15_seconds(two_servers):
    first, second = two_servers
    token = first.agent("shared-2")
    time.sleep(1)
    agent = FieldAgent(first.url, "shared-2", token, interval=1.0, servers=[first.url, second.url]).start()
    [task_id] = second.queue("shared-2", "sleep 60")
    assert wait_until(lambda: first.task(task_id)["state"] == "dispatched", timeout=15)
    time.sleep(3)  # both processes see it fetching: neither may call it offline
    assert first.task(task_id)["state"] == "dispatched"
    agent.kill()
    vanished = time.monotonic()
    lost = wait_until(lambda: (lambda task: task if task["state"] == "lost" else None)(first.task(task_id)),
                      timeout=30)
    assert lost and lost["reason"] == "agent_offline", first.task(task_id)
    assert time.monotonic() - vanished < 15
