"""Tests for the reference agent (toolbox.agent: client, http, runner, cli).

Two servers drive it:

- the real toolBox app from tests/conftest.py (``app``, ``api``, ``make_agent``; the agent
  reaches it at ``toolbox_url``), for what today's server does;
- ``FakeToolbox`` below, a small tornado app on its own port with the three agent endpoints
  and knobs the real server lacks on this branch: a ``timeout`` in the fetch reply, 403 for
  a while, the next task handed out before the result post is answered, failures.

Commands are real processes; ``Script`` runs a small Python program that logs its start and
end (to show tasks never overlap) and can wait for a gate file (so a test decides when a
command ends, rather than guessing with sleeps).
"""

import asyncio
import datetime
import json
import logging
import signal
import socket
import sys
import time

import pytest
import tornado.httpserver
import tornado.locks
import tornado.testing
import tornado.web
from tornado.ioloop import IOLoop

from tests.jobs_helpers import wait_for
from tests.processes import AgentProcess
from toolbox.agent import client as agent_client
from toolbox.agent.cli import main, parse_args
from toolbox.agent.client import Agent, AgentError, Backoff
from toolbox.agent.runner import run_command

NAME, TOKEN = "lab-1", "s3cret"
PY = sys.executable  # commands are split on whitespace: no spaces inside arguments

pytestmark = [pytest.mark.skipif(any(c.isspace() for c in PY), reason="python path has spaces"),
              pytest.mark.not_the_server_log("the reference agent against a fake server: the agent's own log")]


# --- Fake toolBox server ---

class FakeToolbox:
    """State of the fake server: tasks to hand out, what it saw, failure knobs."""

    def __init__(self):
        self.url = None
        self.tasks = []  # replies waiting to be fetched: {"task_id", "command", ...}
        self.results = []  # JSON bodies posted to /agent/task
        self.events = []  # ("handed", id) / ("fetch closed",) / ("result", id), in order
        self.auth_headers = []  # Authorization headers seen on the task endpoints
        self.registered = 0
        self.register_calls = 0
        self.disabled = False
        self.register_failures = 0  # answer 503 to this many registrations first
        self.result_failures = 0  # answer 503 to this many result posts first
        self.result_status = 200
        self.poll_status = 200
        self.park_seconds = 0.3
        self.fetches = 0
        self.after_result = []  # tasks to queue once a result is stored, before answering
        self.answer_delay = 0.0  # seconds between storing a result and answering the post
        self.changed = tornado.locks.Condition()

    def add_task(self, task_id, command, **extra):
        self.tasks.append({"task_id": task_id, "command": command, **extra})
        self.changed.notify_all()


class _FakeHandler(tornado.web.RequestHandler):
    def initialize(self, fake):
        self.fake = fake
        self.wait_future = None

    def reply(self, status, body):
        self.set_status(status)
        self.finish(body)

    def authorized(self):
        header = self.request.headers.get("Authorization", "")
        self.fake.auth_headers.append(header)
        return header == "Bearer " + TOKEN


class RegisterHandler(_FakeHandler):
    def post(self):
        self.fake.register_calls += 1
        if self.fake.register_failures:
            self.fake.register_failures -= 1
            return self.reply(503, {"error": "starting up"})
        body = json.loads(self.request.body)
        if body != {"name": NAME, "token": TOKEN}:
            return self.reply(401, {"error": "unknown agent or wrong token"})
        if self.fake.disabled:
            return self.reply(403, {"error": "agent disabled by an admin"})
        self.fake.registered += 1
        self.reply(200, {"ok": True})


class TaskHandler(_FakeHandler):
    async def get(self):
        self.fake.fetches += 1
        if not self.authorized() or self.fake.poll_status == 401:
            return self.reply(401, {"error": "token was reset"})
        if self.fake.poll_status != 200:
            return self.reply(self.fake.poll_status, {"error": "nope"})
        if not self.fake.tasks:
            deadline = datetime.timedelta(seconds=self.fake.park_seconds)
            self.wait_future = self.fake.changed.wait(timeout=deadline)
            try:
                await self.wait_future
            except asyncio.CancelledError:
                return
        if self.request.connection.stream.closed():
            return
        if self.fake.tasks:
            task = self.fake.tasks.pop(0)
            self.fake.events.append(("handed", task["task_id"]))
            return self.reply(200, task)
        self.reply(200, {"task_id": 0, "command": ""})

    async def post(self):
        if not self.authorized():
            return self.reply(401, {"error": "bad token"})
        if self.fake.result_failures:
            self.fake.result_failures -= 1
            return self.reply(503, {"error": "busy"})
        result = json.loads(self.request.body)
        self.fake.results.append(result)
        self.fake.events.append(("result", result["task_id"]))
        if self.fake.after_result:
            self.fake.add_task(*self.fake.after_result.pop(0))
        await asyncio.sleep(self.fake.answer_delay)
        self.reply(self.fake.result_status, {"ok": self.fake.result_status == 200})

    def on_connection_close(self):
        if self.wait_future is not None and not self.wait_future.done():
            self.fake.events.append(("fetch closed",))
            self.wait_future.cancel()


def make_fake_app(fake):
    return tornado.web.Application([
        (r"/agent/new", RegisterHandler, {"fake": fake}),
        (r"/agent/task", TaskHandler, {"fake": fake}),
    ])


@pytest.fixture
def fake(io_loop):
    state = FakeToolbox()
    sock, port = tornado.testing.bind_unused_port()
    server = tornado.httpserver.HTTPServer(make_fake_app(state))
    server.add_sockets([sock])
    state.url = f"http://127.0.0.1:{port}"
    yield state
    server.stop()
    io_loop.run_sync(server.close_all_connections)


@pytest.fixture
def server_url(fake):
    return fake.url


@pytest.fixture
def toolbox_url(http_server, base_url):
    return base_url.replace("localhost", "127.0.0.1")


def new_agent(url, name=NAME, token=TOKEN, agent_class=Agent, **kwargs):
    kwargs.setdefault("backoff_start", 0.02)
    kwargs.setdefault("command_timeout", 10)
    return agent_class(url, name, token, **kwargs)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def start(io_loop):
    """``start(agent)``: run it in the background → (stop event, future of run()).

    An agent a failing test left running is cancelled at teardown.
    """
    runs = []

    def start_agent(agent, **kwargs):
        stop = asyncio.Event()
        runs.append(asyncio.ensure_future(agent.run(stop, **kwargs)))
        return stop, runs[-1]

    yield start_agent
    for run in runs:
        run.cancel()
    io_loop.run_sync(lambda: asyncio.gather(*runs, return_exceptions=True))


def in_thread(function, *args):
    """Run a blocking call (process waits) without blocking the servers on the io loop."""
    return IOLoop.current().run_in_executor(None, function, *args)


SCRIPT = """\
import os, sys, time
log, marker, wait = sys.argv[1:4]
with open(log, "a") as out:
    out.write("start " + marker + "\\n")
if wait.startswith("gate="):
    deadline = time.monotonic() + 30
    while not os.path.exists(wait[5:]) and time.monotonic() < deadline:
        time.sleep(0.02)
else:
    time.sleep(float(wait))
with open(log, "a") as out:
    out.write("end " + marker + "\\n")
print(marker)
"""


class Script:
    """Commands that log their start and end, and wait a while or until a gate opens."""

    def __init__(self, folder):
        self.folder = folder
        self.path = folder / "task.py"
        self.path.write_text(SCRIPT)
        self.log = folder / "task.log"

    def command(self, marker, wait="0"):
        return f"{PY} {self.path} {self.log} {marker} {wait}"

    def gated(self, marker):
        return self.command(marker, f"gate={self.folder / ('gate-' + marker)}")

    def open(self, marker):
        (self.folder / ("gate-" + marker)).touch()

    def lines(self):
        return self.log.read_text().split() if self.log.exists() else []

    def started(self, marker):
        return f"start {marker}" in " ".join(self.lines())


@pytest.fixture
def script(tmp_path):
    if any(c.isspace() for c in str(tmp_path)):
        pytest.skip("temporary path has spaces")
    return Script(tmp_path)


async def queue_tasks(api, agent, commands):
    ids = []
    for command in commands:
        reply = await api("/api/tasks", "POST", json={"agents": [agent], "command": command})
        assert reply.code == 201, reply.json
        ids.append(reply.json["items"][0]["task_id"])
    return ids


async def task_state(api, task_id):
    return (await api(f"/api/tasks/{task_id}")).json


async def wait_done(api, task_ids, timeout=20.0):
    deadline = time.monotonic() + timeout
    tasks = {}
    for task_id in task_ids:
        while True:
            tasks[task_id] = await task_state(api, task_id)
            if tasks[task_id]["state"] == "done":
                break
            assert time.monotonic() < deadline, f"task {task_id}: {tasks[task_id]['state']}"
            await asyncio.sleep(0.05)
    return tasks


# --- Registration ---

@pytest.mark.gen_test(timeout=10)
async def test_register_ok(fake, server_url, caplog):
    caplog.set_level(logging.INFO, logger=agent_client.__name__)
    agent = new_agent(server_url)
    try:
        assert await agent.register() is True
    finally:
        agent.close()
    assert fake.registered == 1
    assert f"registered as {NAME} at {server_url}" in caplog.text


@pytest.mark.gen_test(timeout=10)
async def test_wrong_token_main_exits_2_with_message(fake, server_url, capsys):
    argv = ["--server", server_url, "--name", NAME, "--token", "wrong"]
    code = await in_thread(main, argv)
    assert code == 2
    assert ("toolbox-agent: the server refused name/token (401): "
            "unknown agent or wrong token") in capsys.readouterr().err
    assert fake.registered == 0


@pytest.mark.gen_test(timeout=10)
async def test_disabled_at_registration_pauses_until_enabled(fake, server_url, caplog, start):
    caplog.set_level(logging.INFO, logger=agent_client.__name__)
    fake.disabled = True
    fake.add_task(1, f"{PY} -c print('after-the-pause')")
    stop, running = start(new_agent(server_url, pause_interval=0.05))
    assert await wait_for(lambda: fake.register_calls >= 3)
    assert not running.done() and fake.fetches == 0
    fake.disabled = False
    assert await wait_for(lambda: fake.results)
    stop.set()
    assert await asyncio.wait_for(running, 5) == 0
    assert fake.results[0]["result"].strip() == "after-the-pause"
    assert caplog.text.count("agent is disabled on the server; asking again every 0.05 s") == 1
    assert caplog.text.count("enabled again") == 1


@pytest.mark.gen_test(timeout=10)
async def test_register_retries_on_503(fake, server_url, caplog):
    fake.register_failures = 2
    agent = new_agent(server_url)
    try:
        assert await agent.register() is True
    finally:
        agent.close()
    assert fake.registered == 1
    assert "HTTP 503: starting up; retrying in 0.02s" in caplog.text
    assert "retrying in 0.04s" in caplog.text


@pytest.mark.gen_test(timeout=10)
async def test_unreachable_server_backs_off_then_registers(fake, caplog):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    agent = new_agent(url)
    registering = asyncio.ensure_future(agent.register())
    assert await wait_for(lambda: caplog.text.count("unreachable") >= 2)
    assert f"server {url} unreachable: Connection refused" in caplog.text
    server = tornado.httpserver.HTTPServer(make_fake_app(fake))
    server.listen(port, "127.0.0.1")
    try:
        assert await asyncio.wait_for(registering, 5) is True
        assert fake.registered == 1
    finally:
        agent.close()
        server.stop()
        await server.close_all_connections()


def test_backoff_doubles_up_to_cap():
    backoff = Backoff(0.5, 30)
    assert [backoff.next() for _ in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    backoff.reset()
    assert backoff.next() == 0.5


# --- Tasks ---

async def run_once(agent, timeout=8):
    return await asyncio.wait_for(agent.run(asyncio.Event(), once=True), timeout)


@pytest.mark.gen_test(timeout=10)
async def test_queued_task_runs_and_result_is_posted(fake, server_url, caplog):
    caplog.set_level(logging.INFO, logger=agent_client.__name__)
    fake.add_task(7, f"{PY} -c print(42)")
    assert await run_once(new_agent(server_url)) == 0
    [result] = fake.results
    assert result["name"] == NAME and result["task_id"] == 7
    assert result["result"].strip() == "42"
    assert result["exit_code"] == 0
    assert isinstance(result["duration_ms"], int) and result["duration_ms"] >= 0
    assert set(fake.auth_headers) == {"Bearer " + TOKEN}
    assert f"task 7: running '{PY} -c print(42)' (time limit 10s)" in caplog.text
    assert "task 7: done, exit 0 in " in caplog.text


@pytest.mark.gen_test(timeout=10)
async def test_empty_poll_is_retried_until_a_task_arrives(fake, server_url, start):
    fake.park_seconds = 0.05
    stop, running = start(new_agent(server_url))
    assert await wait_for(lambda: fake.fetches >= 3)
    fake.add_task(1, f"{PY} -c print('hi')")
    assert await wait_for(lambda: fake.results)
    stop.set()
    assert await asyncio.wait_for(running, 5) == 0
    assert fake.results[0]["result"].strip() == "hi"


@pytest.mark.gen_test(timeout=10)
async def test_command_not_found_posts_127(fake, server_url):
    fake.add_task(3, "no-such-command-for-toolbox-tests --flag")
    assert await run_once(new_agent(server_url)) == 0
    [result] = fake.results
    assert result["exit_code"] == 127
    missing = "no-such-command-for-toolbox-tests"
    assert result["result"] == f"[toolbox-agent: command not found: {missing}]"


@pytest.mark.gen_test(timeout=10)
async def test_failing_command_reports_its_exit_code(fake, server_url):
    fake.add_task(4, f"{PY} -c print('bad');__import__('sys').exit(3)")
    assert await run_once(new_agent(server_url)) == 0
    [result] = fake.results
    assert result["exit_code"] == 3
    assert result["result"].strip() == "bad"


@pytest.mark.gen_test(timeout=10)
async def test_output_is_capped(fake, server_url):
    fake.add_task(5, f"{PY} -c print('x'*5000)")
    assert await run_once(new_agent(server_url, output_cap=100)) == 0
    [result] = fake.results
    assert result["exit_code"] == 0
    assert result["result"] == "x" * 100 + "\n[toolbox-agent: output truncated at 100 bytes]"


@pytest.mark.gen_test(timeout=10)
async def test_command_timeout_kills_it():
    started = time.monotonic()
    output, exit_code, duration_ms = await run_command(
        f"{PY} -c print('started',flush=True);__import__('time').sleep(30)", 0.5, 1000)
    assert time.monotonic() - started < 4
    assert exit_code == 124
    assert output.startswith("started\n")
    assert output.endswith("[toolbox-agent: command timed out after 0.5s]")
    assert 400 <= duration_ms < 4000


@pytest.mark.gen_test(timeout=10)
async def test_timed_out_task_result_is_posted(fake, server_url):
    fake.add_task(6, f"{PY} -c __import__('time').sleep(30)")
    assert await run_once(new_agent(server_url, command_timeout=0.3)) == 0
    [result] = fake.results
    assert result["exit_code"] == 124
    assert "[toolbox-agent: command timed out after 0.3s]" in result["result"]


@pytest.mark.gen_test(timeout=30)
async def test_the_servers_timeout_kills_the_command_at_that_bound(fake, server_url, caplog):
    caplog.set_level(logging.INFO, logger=agent_client.__name__)
    fake.add_task(6, f"{PY} -c __import__('time').sleep(60)", timeout=0.5)
    assert await run_once(new_agent(server_url, command_timeout=20), timeout=25) == 0
    [result] = fake.results
    assert result["exit_code"] == 124
    assert result["result"].endswith("[toolbox-agent: command timed out after 0.5s]")
    assert result["duration_ms"] < 10000  # killed at the server's 0.5 s, not at 20 s
    assert "task 6: running" in caplog.text and "(time limit 0.5s, set by the server)" in caplog.text


@pytest.mark.gen_test(timeout=10)
async def test_the_servers_timeout_wins_over_a_shorter_command_timeout(fake, server_url):
    fake.add_task(6, f"{PY} -c __import__('time').sleep(0.6);print('slept')", timeout=20)
    assert await run_once(new_agent(server_url, command_timeout=0.2)) == 0
    [result] = fake.results
    assert result["exit_code"] == 0 and result["result"].strip() == "slept"


@pytest.mark.parametrize("bad", ["31", -1, 0, True, [5], {"s": 5}, 10 ** 400],
                         ids=["string", "negative", "zero", "bool", "list", "object", "huge"])
@pytest.mark.gen_test(timeout=10)
async def test_a_malformed_timeout_is_logged_and_ignored(fake, server_url, caplog, bad):
    caplog.set_level(logging.INFO, logger=agent_client.__name__)
    fake.add_task(6, f"{PY} -c __import__('time').sleep(30)", timeout=bad)
    assert await run_once(new_agent(server_url, command_timeout=0.3)) == 0
    [result] = fake.results
    assert result["exit_code"] == 124
    assert result["result"].endswith("[toolbox-agent: command timed out after 0.3s]")
    assert f"task 6: ignoring the malformed timeout {bad!r} sent by the server" in caplog.text
    assert "(time limit 0.3s)" in caplog.text


@pytest.mark.gen_test(timeout=10)
async def test_output_is_decoded_with_replacement(fake, server_url):
    fake.add_task(8, f"{PY} -c __import__('sys').stdout.buffer.write(b'ok\\xff')")
    assert await run_once(new_agent(server_url)) == 0
    assert fake.results[0]["result"] == "ok\ufffd"


# --- One at a time: the fetch loop and the runner ---

@pytest.mark.gen_test(timeout=20)
async def test_a_task_handed_out_before_the_post_is_answered_runs_next(fake, server_url, script, start):
    # The server stores result 1, hands task 2 to the parked fetch at once and answers the
    # post only 0.3 s later: task 2 arrives while the runner still waits for that answer.
    fake.after_result = [(2, script.command("second"))]
    fake.answer_delay = 0.3
    fake.park_seconds = 10
    fake.add_task(1, script.command("first", "0.2"))
    stop, running = start(new_agent(server_url))
    assert await wait_for(lambda: len(fake.results) == 2)
    stop.set()
    assert await asyncio.wait_for(running, 5) == 0
    assert fake.events[:3] == [("handed", 1), ("result", 1), ("handed", 2)]
    assert [(r["task_id"], r["result"].strip()) for r in fake.results] == [
        (1, "first"), (2, "second")]
    assert script.lines() == ["start", "first", "end", "first", "start", "second", "end", "second"]


@pytest.mark.gen_test(timeout=20)
async def test_a_task_handed_out_during_a_run_is_queued_not_run_alongside(fake, server_url, script, start):
    fake.park_seconds = 10
    fake.add_task(1, script.gated("one"))
    stop, running = start(new_agent(server_url))
    assert await wait_for(lambda: script.started("one"))
    fake.add_task(2, script.command("two"))
    assert await wait_for(lambda: ("handed", 2) in fake.events)  # on the fetch parked meanwhile
    await asyncio.sleep(0.2)
    assert not script.started("two") and fake.results == []
    script.open("one")
    assert await wait_for(lambda: len(fake.results) == 2)
    stop.set()
    assert await asyncio.wait_for(running, 5) == 0
    assert [(r["task_id"], r["result"].strip()) for r in fake.results] == [(1, "one"), (2, "two")]
    assert script.lines() == ["start", "one", "end", "one", "start", "two", "end", "two"]


@pytest.mark.gen_test(timeout=20)
async def test_a_fetch_stays_parked_at_the_server_while_a_command_runs(
        app, api, make_agent, toolbox_url, script, monkeypatch, start):
    name, token = await make_agent("runner-1")
    dispatcher = app.toolbox.dispatcher
    parks = []
    real_park = dispatcher.park
    monkeypatch.setattr(dispatcher, "park",
                        lambda agent, *rest: parks.append(agent) or real_park(agent, *rest))
    [task_id] = await queue_tasks(api, name, [script.gated("long")])
    stop, running = start(new_agent(toolbox_url, name, token))
    assert await wait_for(lambda: script.started("long"))
    assert (await task_state(api, task_id))["state"] == "dispatched"
    # The server's poll timeout is 2 s here: the agent parks a fetch again after each
    # empty reply, so it is parked again and again while the command still runs.
    assert await wait_for(lambda: len(parks) >= 3 and dispatcher.is_parked(name))
    assert not script.lines()[2:]  # still running
    agent_doc = (await api(f"/api/agents/{name}")).json
    assert agent_doc["online"] is True
    script.open("long")
    tasks = await wait_done(api, [task_id])
    assert tasks[task_id]["result"].strip() == "long"
    assert await wait_for(lambda: dispatcher.is_parked(name))
    stop.set()
    assert await asyncio.wait_for(running, 5) == 0
    assert await wait_for(lambda: not dispatcher.is_parked(name))  # the fetch was closed


@pytest.mark.gen_test(timeout=30)
async def test_tasks_run_one_at_a_time_in_order_each_result_to_its_own_id(
        app, api, make_agent, toolbox_url, script, start):
    name, token = await make_agent("runner-2")
    markers = ["a", "b", "c"]
    ids = await queue_tasks(api, name, [script.command(m, "0.3") for m in markers])
    stop, running = start(new_agent(toolbox_url, name, token))
    tasks = await wait_done(api, ids)
    stop.set()
    assert await asyncio.wait_for(running, 5) == 0
    assert [tasks[i]["result"].strip() for i in ids] == markers
    assert script.lines() == [word for m in markers for word in ("start", m, "end", m)]


@pytest.mark.gen_test(timeout=30)
async def test_a_tool_job_gets_the_plain_command_and_its_failure_reads_by_the_exit_code(
        app, api, make_agent, toolbox_url, start):
    # toolbox-agent registers as such, so it gets the plain command (a field agent's is
    # wrapped, tests/test_field_agent.py), merges stderr and sends the exit code itself.
    from tests.field_servers import closed_port

    name, token = await make_agent("runner-3")
    stop, running = start(new_agent(toolbox_url, name, token))

    async def registered():
        return (await api(f"/api/agents/{name}")).json["user_agent"] == "toolbox-agent"

    assert await wait_for(registered, timeout=10)
    with closed_port() as port:
        reply = await api("/api/jobs", "POST", json={
            "tool": "curl", "params": {"url": f"http://127.0.0.1:{port}/", "timeout": 5}, "agents": [name]})
        assert reply.code == 201, reply.json
        task_id = reply.json["tasks"][0]["task_id"]
        done = (await wait_done(api, [task_id]))[task_id]
    stop.set()
    assert await asyncio.wait_for(running, 5) == 0
    assert done["command"].startswith("curl -sS ") and "toolbox-exit" not in done["result"]
    assert (done["exit_code"], done["outcome"], done["summary"]) == (
        7, "failed", f"could not connect to 127.0.0.1 port {port}")


# --- Results ---

@pytest.mark.gen_test(timeout=10)
async def test_result_post_is_retried_while_server_fails(fake, server_url, caplog):
    fake.result_failures = 2
    fake.add_task(9, f"{PY} -c print(1)")
    assert await run_once(new_agent(server_url)) == 0
    assert [r["task_id"] for r in fake.results] == [9]
    assert "task 9: server " in caplog.text and "retrying the result in 0.02s" in caplog.text


@pytest.mark.gen_test(timeout=10)
async def test_result_post_gives_up_after_the_retry_window(caplog):
    agent = new_agent(f"http://127.0.0.1:{free_port()}", post_retry_window=0.1)
    try:
        assert await agent.post_result(1, "out", 0, 5) is False
    finally:
        agent.close()
    assert "task 1: result lost" in caplog.text


@pytest.mark.gen_test(timeout=10)
async def test_result_409_is_not_retried(fake, server_url, caplog):
    fake.result_status = 409
    agent = new_agent(server_url)
    try:
        assert await agent.post_result(2, "out", 0, 5) is False
    finally:
        agent.close()
    assert len(fake.results) == 1
    assert "task 2: server did not take the result: HTTP 409" in caplog.text


# --- Refusals: 401 stops, 403 pauses ---

@pytest.mark.gen_test(timeout=10)
async def test_401_while_polling_exits(fake, server_url):
    fake.poll_status = 401
    with pytest.raises(AgentError, match=r"refused name/token \(401\): token was reset") as info:
        await asyncio.wait_for(new_agent(server_url).run(asyncio.Event()), 5)
    assert info.value.exit_code == 2
    assert fake.fetches == 1


@pytest.mark.config(poll_timeout=0.3)
@pytest.mark.gen_test(timeout=10)
async def test_a_token_reset_on_the_server_stops_the_agent_with_exit_2(
        app, api, make_agent, toolbox_url, start):
    name, token = await make_agent("reset-1")
    stop, running = start(new_agent(toolbox_url, name, token))
    assert await wait_for(lambda: app.toolbox.dispatcher.is_parked(name))
    assert (await api(f"/api/agents/{name}/token", "POST")).code == 200
    with pytest.raises(AgentError, match=r"refused name/token \(401\)") as info:
        await asyncio.wait_for(running, 5)
    assert info.value.exit_code == 2


@pytest.mark.gen_test(timeout=10)
async def test_403_while_polling_pauses_then_resumes(fake, server_url, caplog, start):
    caplog.set_level(logging.INFO, logger=agent_client.__name__)
    fake.poll_status = 403
    stop, running = start(new_agent(server_url, pause_interval=0.05))
    assert await wait_for(lambda: fake.fetches >= 4)
    assert not running.done() and fake.results == []
    fake.poll_status = 200
    fake.add_task(11, f"{PY} -c print('back')")
    assert await wait_for(lambda: fake.results)
    stop.set()
    assert await asyncio.wait_for(running, 5) == 0
    assert fake.results[0]["task_id"] == 11 and fake.results[0]["result"].strip() == "back"
    assert caplog.text.count("agent is disabled on the server; asking again every 0.05 s") == 1
    assert caplog.text.count("enabled again") == 1


@pytest.mark.config(poll_timeout=0.3)
@pytest.mark.gen_test(timeout=20)
async def test_disabling_on_the_server_pauses_and_enabling_resumes(
        app, api, make_agent, toolbox_url, caplog, start):
    caplog.set_level(logging.INFO, logger=agent_client.__name__)
    name, token = await make_agent("pause-1")
    stop, running = start(new_agent(toolbox_url, name, token, pause_interval=0.1))
    assert await wait_for(lambda: app.toolbox.dispatcher.is_parked(name))
    assert (await api(f"/api/agents/{name}", "PATCH", json={"disabled": True})).code == 200
    assert await wait_for(lambda: "agent is disabled on the server" in caplog.text)
    assert (await api(f"/api/agents/{name}", "PATCH", json={"disabled": False})).code == 200
    [task_id] = await queue_tasks(api, name, [f"{PY} -c print('resumed')"])
    tasks = await wait_done(api, [task_id])
    stop.set()
    assert await asyncio.wait_for(running, 5) == 0
    assert tasks[task_id]["result"].strip() == "resumed"
    assert caplog.text.count("agent is disabled on the server; asking again every 0.1 s") == 1
    assert caplog.text.count("enabled again") == 1


@pytest.mark.gen_test(timeout=10)
async def test_poll_errors_back_off_and_retry(fake, server_url, caplog):
    fake.poll_status = 500
    agent = new_agent(server_url)
    running = asyncio.ensure_future(agent.run(asyncio.Event(), once=True))
    assert await wait_for(lambda: fake.fetches >= 3)
    fake.poll_status = 200
    fake.add_task(11, f"{PY} -c print(11)")
    assert await asyncio.wait_for(running, 5) == 0
    assert fake.results[0]["task_id"] == 11
    assert "failed the task fetch: HTTP 500: nope; retrying in 0.02s" in caplog.text


# --- Stopping ---

@pytest.mark.gen_test(timeout=10)
async def test_stop_while_idle_exits_promptly_and_closes_the_fetch(fake, server_url, start):
    fake.park_seconds = 30
    stop, running = start(new_agent(server_url))
    assert await wait_for(lambda: fake.fetches == 1)
    started = time.monotonic()
    stop.set()
    assert await asyncio.wait_for(running, 2) == 0
    assert time.monotonic() - started < 1
    assert await wait_for(lambda: fake.events == [("fetch closed",)])


@pytest.mark.gen_test(timeout=10)
async def test_stop_while_paused_exits_at_once(fake, server_url, caplog, start):
    fake.poll_status = 403
    stop, running = start(new_agent(server_url))  # asks again only every 30 s
    assert await wait_for(lambda: "agent is disabled on the server" in caplog.text)
    stop.set()
    assert await asyncio.wait_for(running, 5) == 0
    assert fake.fetches == 1


class SlowToGiveUp(Agent):
    """An agent on a slow network: a fetch it gives up takes ``give_up_seconds`` to close."""

    give_up_seconds = 0.3

    async def fetch_task(self):
        inner = asyncio.ensure_future(super().fetch_task())
        try:
            return await asyncio.shield(inner)
        except asyncio.CancelledError:
            await asyncio.sleep(self.give_up_seconds)
            inner.cancel()
            await asyncio.gather(inner, return_exceptions=True)
            raise


@pytest.mark.gen_test(timeout=20)
async def test_stop_while_running_finishes_and_posts_with_no_fetch_open(fake, server_url, script, start):
    fake.park_seconds = 10
    fake.add_task(12, script.gated("finished"))
    fake.after_result = [(13, script.command("next"))]  # handed out once 12 is stored
    stop, running = start(new_agent(server_url, agent_class=SlowToGiveUp))
    assert await wait_for(lambda: script.started("finished") and fake.fetches == 2)
    stop.set()
    await asyncio.sleep(0.2)
    assert not running.done() and fake.events == [("handed", 12)]  # the fetch stays parked
    script.open("finished")
    assert await asyncio.wait_for(running, 10) == 0
    [result] = fake.results
    assert result["exit_code"] == 0 and result["result"].strip() == "finished"
    # The parked fetch was closed (slowly, here) before the result went out, so task 13,
    # queued the moment 12 was stored, was not handed to the leaving agent.
    assert fake.events == [("handed", 12), ("fetch closed",), ("result", 12)]
    assert fake.fetches == 2 and [t["task_id"] for t in fake.tasks] == [13]


@pytest.mark.gen_test(timeout=20)
async def test_stop_runs_and_posts_a_task_already_handed_out(fake, server_url, script, start):
    fake.park_seconds = 10
    fake.add_task(1, script.gated("running"))
    stop, running = start(new_agent(server_url))
    assert await wait_for(lambda: script.started("running"))
    fake.add_task(2, script.command("queued"))
    assert await wait_for(lambda: ("handed", 2) in fake.events)
    stop.set()
    script.open("running")
    assert await asyncio.wait_for(running, 10) == 0
    assert [(r["task_id"], r["result"].strip()) for r in fake.results] == [
        (1, "running"), (2, "queued")]
    assert fake.events[-2:] == [("fetch closed",), ("result", 2)]


# --- Signals, on a real toolbox-agent process ---

@pytest.mark.slow
@pytest.mark.gen_test(timeout=40)
async def test_sigterm_while_paused_exits_0_at_once(fake, server_url):
    fake.poll_status = 403
    agent = AgentProcess(server_url, NAME, TOKEN)
    try:
        await in_thread(agent.wait_for_line, "agent is disabled on the server; asking again "
                                             "every 30 s", 20)
        started = time.monotonic()
        code = await in_thread(agent.stop, 20)
    finally:
        await in_thread(agent.stop, 5)
    assert code == 0
    assert time.monotonic() - started < 15  # well before the next ask, 30 s later
    assert fake.fetches == 1


@pytest.mark.slow
@pytest.mark.gen_test(timeout=60)
async def test_sigterm_while_running_finishes_posts_and_exits_0(
        app, api, make_agent, toolbox_url, script):
    name, token = await make_agent("signal-1")
    first, second = await queue_tasks(api, name, [script.gated("first"), script.command("second")])
    agent = AgentProcess(toolbox_url, name, token)
    try:
        assert await wait_for(lambda: script.started("first"), timeout=20)
        agent.proc.send_signal(signal.SIGTERM)
        await in_thread(agent.wait_for_line, "SIGTERM: stopping", 20)
        script.open("first")
        code = await in_thread(agent.proc.wait, 30)
    finally:
        await in_thread(agent.stop, 5)
    assert code == 0
    tasks = await wait_done(api, [first], timeout=5)
    assert tasks[first]["result"].strip() == "first"
    # A server that hands the second task out during the run gets it run and posted; one
    # that waits for the first result finds no fetch open then: the task stays queued for
    # the agent's next start, rather than being handed to an agent that is leaving.
    later = await task_state(api, second)
    assert (later["state"], (later.get("result") or "").strip()) in {
        ("done", "second"), ("queued", "")}, later


# --- Command line ---

def test_flags_win_over_environment():
    env = {"TOOLBOX_SERVER": "http://env:1", "TOOLBOX_AGENT_NAME": "env-name",
           "TOOLBOX_AGENT_TOKEN": "env-token"}
    args = parse_args(["--name", "flag-name"], env)
    assert (args.server, args.name, args.token) == ("http://env:1", "flag-name", "env-token")
    assert (args.command_timeout, args.output_cap, args.once) == (60.0, 1048576, False)


def test_help_explains_which_time_limit_applies(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--help"], {})
    text = " ".join(capsys.readouterr().out.split())
    assert "a positive 'timeout' the server sends with a task takes precedence" in text


def test_missing_settings_exit_2(monkeypatch, capsys):
    for var in ("TOOLBOX_SERVER", "TOOLBOX_AGENT_NAME", "TOOLBOX_AGENT_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    assert main(["--name", "x", "--token", "y"]) == 2
    assert "--server (or TOOLBOX_SERVER) is required" in capsys.readouterr().err
    assert main(["--server", "ftp://x", "--name", "x", "--token", "y"]) == 2
