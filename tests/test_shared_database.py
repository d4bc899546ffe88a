"""Two server processes on one MongoDB-wire database, and the field agent between them.

The agent's fetches and reports go to the two processes in turn (as behind a
round-robin load balancer); tasks are created through both.  The database itself keeps
one task in flight per agent (``toolbox.store.repos.tasks``), so results are never crossed.
"""

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
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


# --- one server, many processes: events, wake-ups, counts, limits and credentials ---


@pytest.fixture
def quiet_sweeps(mongodb_wire_uri, tmp_path):
    """Two processes whose sweeps (the safety net) run only every 30 s: what crosses
    between them in less must have come over the event bus."""
    uri = f"{mongodb_wire_uri.rstrip('/')}/toolbox_bus_{uuid.uuid4().hex[:10]}"
    env = {"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "20", "MONGODB_URI": uri,
           "TOOLBOX_SWEEP_INTERVAL": "30", "TOOLBOX_AGENT_REFRESH": "30", "TOOLBOX_JOBS_PER_MINUTE": "4"}
    processes = [ServerProcess(env=env, cwd=tmp_path), ServerProcess(env=env, cwd=tmp_path)]
    yield [Server(process) for process in processes]
    for process in processes:
        assert process.stop() == 0, "\n".join(process.lines)


async def close(conn):
    """Close a websocket client and its socket before its loop ends.

    ``close()`` only sends the close frame; Tornado closes the socket when the server's
    answer comes, or aborts 5 s later on a timer.  A loop that ends first (``asyncio.run``)
    drops both, and the socket is left to the garbage collector.
    """
    stream = conn.protocol.stream if conn.protocol is not None else None
    conn.close()
    try:
        while await asyncio.wait_for(conn.read_message(), 5) is not None:
            pass  # messages that were on their way; None: the connection is closed
    except asyncio.TimeoutError:
        pass
    if stream is not None:
        stream.close()  # a no-op when the server's answer closed it


def console(server, count, since=None):
    """Read ``count`` task events (after the hello) from ``server``'s live feed, in a thread."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    received = {"events": [], "hello": None, "ready": threading.Event()}

    async def read():
        url = server.url.replace("http://", "ws://") + "/api/ws" + (f"?since={since}" if since else "")
        conn = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"Bearer {ADMIN}"}))
        try:
            received["hello"] = json.loads(await conn.read_message())
            received["ready"].set()
            while len(received["events"]) < count:
                text = await asyncio.wait_for(conn.read_message(), 30)
                if text is None:
                    break
                event = json.loads(text)
                if event["type"].startswith("task."):  # agents coming online are not counted
                    received["events"].append(event)
        finally:  # closed on every path, before this thread's loop is
            await close(conn)

    thread = threading.Thread(target=lambda: asyncio.run(read()), daemon=True)
    thread.start()
    assert received["ready"].wait(15)
    return received, thread


def fetch(server, name, token, timeout=30):
    """(status, reply) of one fetch; (None, None) when it is still parked after ``timeout``."""
    request = urllib.request.Request(f"{server.url}/agent/task?agent_name={name}", headers={"Authorization": token})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:  # an HTTPError holds the connection until closed
            return error.code, json.loads(error.read())
    except TimeoutError:
        return None, None


def report(server, name, token, task_id, result):
    body = json.dumps({"name": name, "task_id": task_id, "result": result}).encode()
    request = urllib.request.Request(f"{server.url}/agent/task", data=body, method="POST",
                                     headers={"Authorization": token, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def test_a_task_queued_on_one_process_wakes_the_agent_parked_on_the_other_at_once(quiet_sweeps):
    first, second = quiet_sweeps
    token = first.agent("bus-1")
    replies = []
    parked = threading.Thread(target=lambda: replies.append(fetch(second, "bus-1", token)), daemon=True)
    parked.start()
    assert wait_until(lambda: second.parked_fetches() == 1, timeout=10)  # parked on the second process
    started = time.monotonic()
    [task_id] = first.queue("bus-1", "echo hi")
    parked.join(10)
    assert replies and replies[0][1]["task_id"] == task_id
    assert time.monotonic() - started < 2  # the sweep would take 30 s


def test_every_console_on_either_process_sees_every_event_once_in_one_order(quiet_sweeps):
    first, second = quiet_sweeps
    token = first.agent("bus-2")
    on_first, reader_1 = console(first, 3)
    on_second, reader_2 = console(second, 3)
    [task_id] = first.queue("bus-2", "echo hi")  # queued through the first
    status, reply = fetch(second, "bus-2", token)  # dispatched and answered through the second
    assert reply["task_id"] == task_id
    assert report(second, "bus-2", token, task_id, "hi") == 200
    reader_1.join(20)
    reader_2.join(20)
    seen = [[(event["seq"], event["type"], event["data"]["task_id"]) for event in feed["events"]]
            for feed in (on_first, on_second)]
    assert seen[0] == seen[1]  # the same numbers, the same order, on both
    assert [kind for _, kind, _ in seen[0]] == ["task.queued", "task.dispatched", "task.done"]
    done = on_first["events"][-1]["data"]
    assert done["result_preview"] == "hi" and done["outcome"] == "ok"
    # since resumes on either process: what the first console missed, the second replays
    replay, reader_3 = console(second, 2, since=seen[0][0][0])
    reader_3.join(20)
    assert [(e["seq"], e["type"]) for e in replay["events"]] == [(s, k) for s, k, _ in seen[0][1:]]


def test_a_job_created_on_one_process_is_counted_and_ends_when_answered_through_the_other(quiet_sweeps):
    first, second = quiet_sweeps
    token = first.agent("bus-3")
    status, job = first.call("/api/jobs", "POST", {"tool": "ping", "params": {"target": "127.0.0.1", "count": 1},
                                                   "agents": ["bus-3"]})
    assert status == 201
    status, reply = fetch(second, "bus-3", token)
    output = ("PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data. 64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 "
              "time=0.030 ms --- 127.0.0.1 ping statistics --- 1 packets transmitted, 1 received, 0% packet "
              "loss, time 0ms rtt min/avg/max/mdev = 0.030/0.030/0.030/0.000 ms")
    assert report(second, "bus-3", token, reply["task_id"], output) == 200

    def ended(server):
        job_now = server.call(f"/api/jobs/{job['job_id']}")[1]
        return job_now if job_now["state"] == "done" else None

    for server in (first, second):
        final = wait_until(lambda: ended(server), timeout=10)
        assert final, server.call(f"/api/jobs/{job['job_id']}")[1]
        assert final["counts"]["ok"] == 1 and final["summary"] == "1 ok" and final["outcome"] == "ok"


def test_the_jobs_per_minute_budget_is_one_across_processes(quiet_sweeps):
    first, second = quiet_sweeps
    first.agent("bus-4")
    body = {"tool": "ping", "params": {"target": "127.0.0.1"}, "agents": ["bus-4"]}
    codes = [server.call("/api/jobs", "POST", body)[0] for server in (first, second, first, second, first, second)]
    assert sorted(codes) == [201, 201, 201, 201, 429, 429], codes


def test_a_token_reset_or_disable_on_one_process_applies_on_the_other_within_a_second(quiet_sweeps):
    first, second = quiet_sweeps
    old = first.agent("bus-5")
    assert fetch(second, "bus-5", old, timeout=0.5) == (None, None)  # known there: it parks
    status, reset = first.call("/api/agents/bus-5/token", "POST")
    assert status == 200
    started = time.monotonic()
    assert wait_until(lambda: fetch(second, "bus-5", old, timeout=0.2)[0] == 401, timeout=5)
    assert time.monotonic() - started < 1.0
    first.call("/api/agents/bus-5", "PATCH", {"disabled": True})
    started = time.monotonic()
    assert wait_until(lambda: fetch(second, "bus-5", reset["token"], timeout=0.2)[0] == 403, timeout=5)
    assert time.monotonic() - started < 1.0
