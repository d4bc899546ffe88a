"""When the database goes away or slows down (issue 22): a real SecantusDB on disk is
killed (SIGKILL) and started again under load, with field agents and the reference
agent working through it; a delaying proxy makes it slow.

Throughout: ``/healthz`` answers within a second, every refusal is a 503 (never another
5xx), the server logs no traceback, every task the API accepted is done once, and every
agent lives.
"""

import json
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest

from tests.conftest import _secantus_binary
from tests.database_faults import DiskDatabase, Prober
from tests.field_agent import FieldAgent
from tests.processes import AgentProcess, ServerProcess, wait_until
from tests.test_field_agent import ADMIN, Server

pytestmark = [pytest.mark.slow, pytest.mark.database]


@pytest.fixture
def disk_database(tmp_path):
    binary = _secantus_binary()
    if binary is None:
        pytest.skip("no secantusd-py (TOOLBOX_TEST_SECANTUSD)")
    database = DiskDatabase(binary, tmp_path).start()
    yield database
    database.close()


def call(url, path, method="GET", body=None, headers=None, timeout=30):
    """(status, JSON body or None, headers) of one admin call; status None: no answer."""
    request = urllib.request.Request(url + path, data=None if body is None else json.dumps(body).encode(),
                                     method=method, headers={"Authorization": f"Bearer {ADMIN}",
                                                             "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null"), dict(response.headers)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read() or b"null"), dict(error.headers)
    except OSError:
        return None, None, {}


def server_on(uri, tmp_path, **env):
    return ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "5",
                              "MONGODB_URI": f"{uri}/toolbox_faults_{uuid.uuid4().hex[:8]}",
                              "TOOLBOX_AGENT_REFRESH": "0.5", "TOOLBOX_DB_TIMEOUT": "2",
                              "TOOLBOX_OFFLINE_AFTER": "30", **env}, cwd=tmp_path)


class Creator:
    """Creates one task every ``every`` seconds through ``POST /api/tasks`` (each with an
    ``Idempotency-Key``, tried again on a 503 with the same key) until stopped."""

    def __init__(self, url, agents, every=0.2):
        self.url, self.agents, self.every = url, agents, every
        self.created = {}  # task id → expected output
        self.statuses = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        for n in range(500):  # bounded
            if self._stop.is_set():
                return
            agent = self.agents[n % len(self.agents)]
            body, key = {"agents": [agent], "command": f"echo made-{n}"}, uuid.uuid4().hex
            for _ in range(30):  # a refused creation is sent again, as a client would
                status, reply, _headers = call(self.url, "/api/tasks", "POST", body, {"Idempotency-Key": key},
                                               timeout=15)
                self.statuses.append(status)
                if status == 201:
                    self.created[reply["items"][0]["task_id"]] = f"made-{n}"
                    break
                if self._stop.wait(0.5):
                    return
            self._stop.wait(self.every)

    def stop(self):
        self._stop.set()
        self._thread.join(30)


def unfinished(url, ids):
    states = {task_id: call(url, f"/api/tasks/{task_id}")[1] for task_id in ids}
    return [t for t in states.values() if not t or t.get("state") in ("queued", "dispatched")]


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
        assert set(creator.statuses) <= {201, 503}, creator.statuses
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
