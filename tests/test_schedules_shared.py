"""Two server processes on one MongoDB-wire database: every round of a schedule fired once.

Both processes tick every 0.1 s; the test makes a round due again and again by moving
the schedule's ``next_run`` back in the database (rounds are at least a minute apart),
and checks that each due round ran exactly once: one round entry, at most one job, and
the two processes' round counters adding up to the rounds.
"""

import datetime
import re
import urllib.request
import uuid

import pymongo
import pytest

from tests.processes import ServerProcess, wait_until
from tests.test_field_agent import ADMIN, Server

pytestmark = pytest.mark.slow

ROUNDS = 6


@pytest.fixture
def shared(mongodb_wire_uri, tmp_path):
    name = f"toolbox_sched_{uuid.uuid4().hex[:10]}"
    uri = f"{mongodb_wire_uri.rstrip('/')}/{name}"
    env = {"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "5", "MONGODB_URI": uri,
           "TOOLBOX_AGENT_REFRESH": "0.5", "TOOLBOX_SWEEP_INTERVAL": "0.1"}
    processes = [ServerProcess(env=env, cwd=tmp_path), ServerProcess(env=env, cwd=tmp_path)]
    client = pymongo.MongoClient(mongodb_wire_uri, tz_aware=True, serverSelectionTimeoutMS=5000)
    yield [Server(process) for process in processes], client[name]
    client.close()
    for process in processes:
        assert process.stop() == 0, "\n".join(process.lines)


def rounds_counted(server):
    request = urllib.request.Request(server.url + "/metrics", headers={"Authorization": f"Bearer {ADMIN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    return sum(float(value) for value in re.findall(r'^toolbox_schedule_rounds_total\{state="\w+"\} (\S+)$',
                                                     text, re.M))


def test_two_processes_fire_each_round_exactly_once(shared):
    (first, second), database = shared
    first.agent("sched-1")
    status, made = second.call("/api/schedules", "POST", {"tool": "ping", "params": {"target": "192.0.2.1"},
                                                         "agents": ["sched-1"], "interval": 60})
    assert status == 201, made
    sid = made["schedule_id"]

    def rounds(count):
        items = first.call(f"/api/schedules/{sid}/rounds")[1]["items"]
        return items if len(items) >= count else None

    assert wait_until(lambda: rounds(1), timeout=20)
    for count in range(2, ROUNDS + 1):
        for task in first.call("/api/tasks?agent=sched-1&state=queued")[1]["items"]:
            first.call(f"/api/tasks/{task['task_id']}/cancel", "POST")  # the agent is not busy next round
        due = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
        database["schedules"].update_one({"_id": sid}, {"$set": {"next_run": due}})
        assert wait_until(lambda: rounds(count), timeout=20), count  # noqa: B023
    items = rounds(ROUNDS)
    assert len(items) == ROUNDS and len({item["at"] for item in items}) == ROUNDS
    fired = [item for item in items if item["state"] == "fired"]
    assert len(fired) == ROUNDS, items
    jobs = first.call(f"/api/jobs?schedule={sid}")[1]["items"]
    assert sorted(job["job_id"] for job in jobs) == sorted(item["job_id"] for item in fired)
    assert len({job["round_at"] for job in jobs}) == len(jobs)
    assert wait_until(lambda: rounds_counted(first) + rounds_counted(second) == ROUNDS, timeout=5)
    assert database["schedules"].find_one({"_id": sid}).get("pending") is None
