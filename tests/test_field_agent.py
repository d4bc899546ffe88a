"""The Go agent of the field, emulated (tests/field_agent.py), against a real server process.

It cannot keep two tasks apart and it dies on a failing command: the server hands it one
task at a time, and ends a dead agent's task within 15 s.
"""

import datetime
import json
import time
import urllib.error
import urllib.request

import pytest

from tests.field_agent import FieldAgent
from tests.processes import ServerProcess, wait_until

pytestmark = pytest.mark.slow
ADMIN = "field-admin-token-0123456789-abcdefgh"


def when(iso):
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))


class Server:
    """A server process and a small JSON client for its API."""

    def __init__(self, process):
        self.process, self.url = process, process.url

    def call(self, path, method="GET", body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Authorization": f"Bearer {ADMIN}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            with error:  # an HTTPError holds the connection until closed
                return error.code, json.loads(error.read())

    def agent(self, name):
        status, body = self.call("/api/agents", "POST", {"name": name})
        assert status == 201, body
        return body["token"]

    def queue(self, name, *commands):
        ids = []
        for command in commands:
            status, body = self.call("/api/tasks", "POST", {"agents": [name], "command": command})
            assert status == 201, body
            ids.append(body["items"][0]["task_id"])
        return ids

    def task(self, task_id):
        return self.call(f"/api/tasks/{task_id}")[1]

    def finished(self, ids):
        tasks = [self.task(task_id) for task_id in ids]
        return tasks if all(task["state"] not in ("queued", "dispatched") for task in tasks) else None

    def parked_fetches(self):
        """How many agent fetches this process holds parked (its ``/metrics`` gauge)."""
        request = urllib.request.Request(self.url + "/metrics", headers={"Authorization": f"Bearer {ADMIN}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            for line in response.read().decode().splitlines():
                if line.startswith("toolbox_parked_fetches "):
                    return float(line.split()[1])
        raise AssertionError("no toolbox_parked_fetches in /metrics")


def _serve(tmp_path, **env):
    process = ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "5", **env}, cwd=tmp_path)
    yield Server(process)
    assert process.stop() == 0, "\n".join(process.lines)


@pytest.fixture
def server(tmp_path):
    yield from _serve(tmp_path)


@pytest.fixture
def patient_server(tmp_path):
    """A server slow to call an agent gone (60 s instead of 10): for tests of what results
    read, not of liveness.  On a loaded shared test database a task counted lost after
    10 s would end its job before the late result is stored (once in a CI run)."""
    yield from _serve(tmp_path, TOOLBOX_OFFLINE_AFTER="60", TOOLBOX_TASK_GRACE="60")


MIXED = ["sleep 3", "echo fast-a", "ping -c 3 -i 0.5 127.0.0.1", "echo fast-b", "sleep 2", "echo fast-c"]


def test_a_mixed_slow_and_fast_queue_comes_back_each_result_under_its_own_task(server):
    token = server.agent("field-1")
    agent = FieldAgent(server.url, "field-1", token, interval=0.2).start()
    try:
        ids = server.queue("field-1", *MIXED)
        tasks = wait_until(lambda: server.finished(ids), timeout=60)
        assert tasks, [server.task(task_id)["state"] for task_id in ids]
        assert agent.crashed is None
        results = {task["command"]: task["result"] for task in tasks}
        assert results["sleep 3"] == "" and results["sleep 2"] == ""
        assert results["echo fast-a"] == "fast-a"
        assert results["echo fast-b"] == "fast-b"
        assert results["echo fast-c"] == "fast-c"
        assert "3 packets transmitted, 3 received" in results["ping -c 3 -i 0.5 127.0.0.1"]
        assert agent.fetched == ids  # one at a time, oldest first
        assert all(status == 200 for _, _, status in agent.reported)
        # one at a time: each was dispatched only after the one before it was done
        # (dispatched_at is taken when the claim is sent, finished_at when the result is:
        # on a shared database a claim sent a moment before the result lands just after it)
        for before, after in zip(tasks, tasks[1:]):
            assert when(after["dispatched_at"]) >= when(before["finished_at"]) - datetime.timedelta(seconds=0.1)
    finally:
        agent.kill()


def test_an_agent_that_dies_mid_task_has_its_task_end_lost_within_15_seconds(server):
    token = server.agent("field-2")
    agent = FieldAgent(server.url, "field-2", token, interval=1.0).start()
    [task_id] = server.queue("field-2", "sleep 60")
    assert wait_until(lambda: server.task(task_id)["state"] == "dispatched", timeout=10)
    time.sleep(2)
    assert server.task(task_id)["state"] == "dispatched"  # running: still fetching every second
    agent.kill()
    vanished = time.monotonic()
    lost = wait_until(lambda: (lambda task: task if task["state"] == "lost" else None)(server.task(task_id)),
                      timeout=30)
    assert lost, server.task(task_id)
    assert time.monotonic() - vanished < 15
    assert lost["reason"] == "agent_offline" and lost["outcome"] == "lost"
    assert lost["summary"] == "agent went offline"
    assert server.call("/api/agents/field-2")[1]["online"] is False


def test_a_failing_command_kills_the_field_agent_and_its_restart_frees_the_next_task(server):
    token = server.agent("field-3")
    agent = FieldAgent(server.url, "field-3", token, interval=0.2).start()
    failing, following = server.queue("field-3", "false", "echo after")
    assert wait_until(lambda: agent.crashed, timeout=10) == "'false' exited 1"
    assert server.task(failing)["state"] == "dispatched" and server.task(following)["state"] == "queued"
    # Its supervisor starts it again: it registers, so the task it died on cannot come back.
    restarted = FieldAgent(server.url, "field-3", token, interval=0.2).start()
    try:
        tasks = wait_until(lambda: server.finished([failing, following]), timeout=20)
        assert tasks, [server.task(task_id) for task_id in (failing, following)]
        assert (tasks[0]["state"], tasks[0]["reason"]) == ("lost", "agent_restarted")
        assert (tasks[1]["state"], tasks[1]["result"]) == ("done", "after")
        assert restarted.crashed is None
    finally:
        restarted.kill()


def test_every_tool_job_answers_through_the_field_agent(patient_server):
    """Jobs of each tool on 127.0.0.1, one field agent: results read, failures as failures."""
    from tests import field_servers

    token = patient_server.agent("field-4")
    agent = FieldAgent(patient_server.url, "field-4", token, interval=0.2).start()
    with field_servers.http_server() as http_port, field_servers.listening_port() as open_port, \
            field_servers.closed_port() as closed_port:
        jobs = {
            "ping": ("ping", {"target": "127.0.0.1", "count": 2, "timeout": 1}),
            "traceroute": ("traceroute", {"target": "127.0.0.1", "max_hops": 3, "timeout": 1}),
            "mtr": ("mtr", {"target": "127.0.0.1", "count": 2}),
            "http 200": ("curl", {"url": f"http://127.0.0.1:{http_port}/", "timeout": 5}),
            "http 404": ("curl", {"url": f"http://127.0.0.1:{http_port}/nope", "timeout": 5}),
            "tcp open": ("tcp", {"target": "127.0.0.1", "port": open_port, "timeout": 2}),
            "tcp closed": ("tcp", {"target": "127.0.0.1", "port": closed_port, "timeout": 2}),
        }
        ids = {}
        try:
            for label, (tool, params) in jobs.items():
                status, job = patient_server.call("/api/jobs", "POST", {"tool": tool, "params": params,
                                                                       "agents": ["field-4"]})
                assert status == 201, job
                ids[label] = job["job_id"]

            def all_ended():
                found = {label: patient_server.call(f"/api/jobs/{job_id}")[1] for label, job_id in ids.items()}
                return found if all(job["state"] != "running" for job in found.values()) else None

            ended = wait_until(all_ended, timeout=90)
            assert ended, {label: patient_server.call(f"/api/jobs/{job_id}")[1]["summary"]
                           for label, job_id in ids.items()}
        finally:
            agent.kill("test over")
    assert agent.crashed == "test over"  # no command it ran exited non-zero
    unread = {label: (job["outcome"], job["tasks"][0]["state"], job["tasks"][0].get("reason"))
              for label, job in ended.items() if not job["tasks"][0].get("parsed")}
    assert not unread, unread
    outcome = {label: (job["outcome"], job["tasks"][0]["parsed"]["kind"]) for label, job in ended.items()}
    assert outcome == {"ping": ("ok", "ping"), "traceroute": ("ok", "traceroute"), "mtr": ("ok", "mtr"),
                       "http 200": ("ok", "curl"), "http 404": ("failed", "curl"),
                       "tcp open": ("ok", "tcp"), "tcp closed": ("failed", "tcp")}
    assert ended["ping"]["tasks"][0]["parsed"]["received"] == 2
    assert ended["http 404"]["tasks"][0]["parsed"]["http_status"] == 404
    assert ended["tcp open"]["tasks"][0]["parsed"]["open"] is True
    assert ended["tcp closed"]["summary"] == "1 failed"


NO_NAME = "nosuch.invalid"  # RFC 6761: never a real name; looked up in an empty network namespace only


def _run_each_and_stay_alive(server, agent, cases):
    """Run each case as its own job on ``agent``, one after the other; after each the agent
    must still be running and the task ``done``, ``failed``, with ``summary``."""
    seen = {}
    for label, (tool, params, summary) in cases.items():
        status, job = server.call("/api/jobs", "POST", {"tool": tool, "params": params, "agents": [agent.name]})
        assert status == 201, job
        # ended: the job, and its task as the job lists it (on a shared database the job's
        # state can be read a moment before its task's)
        ended = wait_until(lambda: (lambda found: found if found["state"] != "running" and found["tasks"][0]["state"]
                                    not in ("queued", "dispatched") else None)(
            server.call(f"/api/jobs/{job['job_id']}")[1]), timeout=40)
        assert ended, (label, server.call(f"/api/jobs/{job['job_id']}")[1])
        task = ended["tasks"][0]
        assert agent.alive and agent.crashed is None, (label, agent.crashed, task)
        seen[label] = (task["state"], task["outcome"], task["summary"])
        assert seen[label] == ("done", "failed", summary), (label, seen[label], server.task(task["task_id"]).get("result"))
        assert task["command"].startswith("perl -e ")  # the field agent's command is wrapped
    return seen


def test_no_failing_tool_kills_the_field_agent(server):
    """Each failure that killed the deployed agent (legacy-agent.md section 3) comes back as a
    failed reading with its reason, and the agent lives on."""
    from tests import field_servers

    token = server.agent("field-5")
    agent = FieldAgent(server.url, "field-5", token, interval=0.2).start()
    try:
        with field_servers.closed_port() as closed, field_servers.unanswered_port() as silent:
            _run_each_and_stay_alive(server, agent, {
                "curl refused": ("curl", {"url": f"http://127.0.0.1:{closed}/", "timeout": 5},
                                 f"could not connect to 127.0.0.1 port {closed}"),
                "curl no answer": ("curl", {"url": f"http://127.0.0.1:{silent}/", "timeout": 1},
                                   "timed out after 1 s"),
                # nothing serves DNS on 127.0.0.1:53 here: the query is refused
                "dig no server": ("dig", {"target": "two.toolbox.test", "server": "127.0.0.1"},
                                  "no DNS server reached"),
            })
        [echo] = server.queue("field-5", "echo still-here")
        assert wait_until(lambda: server.task(echo)["state"] == "done", timeout=20)
        assert server.task(echo)["result"] == "still-here"  # a raw command stays plain
    finally:
        agent.kill("test over")
    assert agent.crashed == "test over"


def test_unknown_hosts_and_an_unreachable_network_do_not_kill_the_field_agent(server):
    """The cases that need a name lookup or a route, run where nothing can leave the machine:
    the agent's commands run in an empty network namespace (its HTTP stays on 127.0.0.1)."""
    from tests import field_servers

    prefix = field_servers.empty_network()
    if prefix is None:
        pytest.skip("unshare -rn (user namespaces) is not available")
    token = server.agent("field-6")
    agent = FieldAgent(server.url, "field-6", token, interval=0.2, run_prefix=prefix).start()
    unknown = f"unknown host {NO_NAME}"
    try:
        _run_each_and_stay_alive(server, agent, {
            "ping unknown host": ("ping", {"target": NO_NAME, "count": 1, "timeout": 1}, unknown),
            "traceroute unknown host": ("traceroute", {"target": NO_NAME, "max_hops": 2, "timeout": 1}, unknown),
            "mtr unknown host": ("mtr", {"target": NO_NAME, "count": 1}, unknown),
            "curl unknown host": ("curl", {"url": f"http://{NO_NAME}/", "timeout": 2}, unknown),
            "tcp unknown host": ("tcp", {"target": NO_NAME, "port": 80, "timeout": 1}, unknown),
            "dig no resolver": ("dig", {"target": NO_NAME}, "no DNS server reached"),
            # ping to a host that never answers cannot be made locally; an unreachable
            # network is the failure that can
            "ping unreachable": ("ping", {"target": "127.0.0.1", "count": 1, "timeout": 1},
                                 "connect: Network is unreachable"),
            "traceroute unreachable": ("traceroute", {"target": "127.0.0.1", "max_hops": 2, "timeout": 1},
                                       "Network is unreachable"),
            "mtr unreachable": ("mtr", {"target": "127.0.0.1", "count": 1},
                                "udp socket connect failed: Network is unreachable"),
        })
    finally:
        agent.kill("test over")
    assert agent.crashed == "test over"


def test_a_stopped_job_on_the_field_agent_keeps_its_late_result_and_holds_the_next_task(server):
    """The field agent cannot be told to stop: its task is canceled at once, its command runs
    on, its result is still stored, and its next task waits for that result (one in flight)."""
    token = server.agent("field-stop")
    agent = FieldAgent(server.url, "field-stop", token, interval=0.2).start()
    try:
        status, job = server.call("/api/jobs", "POST", {"tool": "ping", "agents": ["field-stop"],
                                                        "params": {"target": "127.0.0.1", "count": 6}})
        assert status == 201, job
        task_id = server.call(f"/api/jobs/{job['job_id']}")[1]["tasks"][0]["task_id"]
        assert wait_until(lambda: server.task(task_id)["state"] == "dispatched", timeout=20)
        status, canceled = server.call(f"/api/jobs/{job['job_id']}/cancel", "POST")
        assert status == 200 and canceled["state"] == "canceled"
        stopped = server.task(task_id)
        assert stopped["state"] == "canceled" and stopped["result"] is None and stopped["partial"] is None
        [echo] = server.queue("field-stop", "echo next")
        assert server.task(echo)["state"] == "queued"  # the ping (5 s) still runs on the agent
        kept = wait_until(lambda: (task := server.task(task_id)).get("result") and task, timeout=20)
        assert kept and kept["state"] == "canceled" and kept["outcome"] == "canceled"
        assert "6 packets transmitted" in kept["result"] and kept["summary"].startswith("stopped; 6/6")
        assert wait_until(lambda: server.task(echo)["state"] == "done", timeout=20)
        assert server.task(echo)["result"] == "next"
        assert agent.crashed is None
    finally:
        agent.kill("test over")
