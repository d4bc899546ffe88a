"""Tests for the reference agent (toolbox.agent_client, toolbox.agent_runner).

The real server is not needed: ``FakeToolbox`` below is a small tornado app with the three
agent endpoints (register, long-poll a task, post a result) and knobs to make them fail.

Fixtures: ``fake`` (the fake server's state), ``app`` (its tornado Application, used by
pytest-tornado's ``http_server``), ``server_url`` (the fake's base URL on 127.0.0.1).
"""

import asyncio
import datetime
import json
import logging
import socket
import sys
import time

import pytest
import tornado.httpserver
import tornado.locks
import tornado.web
from tornado.ioloop import IOLoop

from toolbox import agent_client
from toolbox.agent_client import Agent, AgentError, Backoff, main, parse_args
from toolbox.agent_runner import run_command

NAME, TOKEN = "lab-1", "s3cret"
PY = sys.executable  # commands are split on whitespace: no spaces inside arguments

pytestmark = [pytest.mark.skipif(any(c.isspace() for c in PY), reason="python path has spaces"),
              pytest.mark.not_the_server_log("the reference agent against a fake server: the agent's own log")]


# --- Fake toolBox server ---

class FakeToolbox:
    """State of the fake server: tasks to hand out, results received, failure knobs."""

    def __init__(self):
        self.tasks = []  # (task_id, command) waiting to be fetched
        self.results = []  # JSON bodies posted to /agent/task
        self.auth_headers = []  # Authorization headers seen on the task endpoints
        self.registered = 0
        self.disabled = False
        self.register_failures = 0  # answer 503 to this many registrations first
        self.result_failures = 0  # answer 503 to this many result posts first
        self.result_status = 200
        self.poll_status = 200
        self.park_seconds = 0.3
        self.fetches = 0
        self.changed = tornado.locks.Condition()

    def add_task(self, task_id, command):
        self.tasks.append((task_id, command))
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
            task_id, command = self.fake.tasks.pop(0)
            return self.reply(200, {"task_id": task_id, "command": command})
        self.reply(200, {"task_id": 0, "command": ""})

    def post(self):
        if not self.authorized():
            return self.reply(401, {"error": "bad token"})
        if self.fake.result_failures:
            self.fake.result_failures -= 1
            return self.reply(503, {"error": "busy"})
        self.fake.results.append(json.loads(self.request.body))
        self.reply(self.fake.result_status, {"ok": self.fake.result_status == 200})

    def on_connection_close(self):
        if self.wait_future is not None:
            self.wait_future.cancel()


def make_fake_app(fake):
    return tornado.web.Application([
        (r"/agent/new", RegisterHandler, {"fake": fake}),
        (r"/agent/task", TaskHandler, {"fake": fake}),
    ])


@pytest.fixture
def fake():
    return FakeToolbox()


@pytest.fixture
def app(fake):
    return make_fake_app(fake)


@pytest.fixture
def server_url(http_server, base_url):
    return base_url.replace("localhost", "127.0.0.1")


def make_agent(url, **kwargs):
    kwargs.setdefault("backoff_start", 0.02)
    kwargs.setdefault("command_timeout", 10)
    return Agent(url, NAME, kwargs.pop("token", TOKEN), **kwargs)


async def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Registration ---

@pytest.mark.gen_test(timeout=10)
async def test_register_ok(fake, server_url, caplog):
    caplog.set_level(logging.INFO, logger=agent_client.__name__)
    agent = make_agent(server_url)
    try:
        assert await agent.register() is True
    finally:
        agent.close()
    assert fake.registered == 1
    assert f"registered as {NAME} at {server_url}" in caplog.text


@pytest.mark.gen_test(timeout=10)
async def test_wrong_token_main_exits_2_with_message(fake, server_url, capsys):
    argv = ["--server", server_url, "--name", NAME, "--token", "wrong"]
    code = await IOLoop.current().run_in_executor(None, main, argv)
    assert code == 2
    assert ("toolbox-agent: the server refused name/token (401): "
            "unknown agent or wrong token") in capsys.readouterr().err
    assert fake.registered == 0


@pytest.mark.gen_test(timeout=10)
async def test_disabled_agent_stops(fake, server_url):
    fake.disabled = True
    agent = make_agent(server_url)
    with pytest.raises(AgentError, match="agent is disabled") as info:
        await agent.run(asyncio.Event())
    assert info.value.exit_code == 2


@pytest.mark.gen_test(timeout=10)
async def test_register_retries_on_503(fake, server_url, caplog):
    fake.register_failures = 2
    agent = make_agent(server_url)
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
    agent = make_agent(url)
    registering = asyncio.ensure_future(agent.register())
    await wait_until(lambda: caplog.text.count("unreachable") >= 2)
    assert f"server {url} unreachable: " in caplog.text
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
    assert await run_once(make_agent(server_url)) == 0
    [result] = fake.results
    assert result["name"] == NAME and result["task_id"] == 7
    assert result["result"].strip() == "42"
    assert result["exit_code"] == 0
    assert isinstance(result["duration_ms"], int) and result["duration_ms"] >= 0
    assert set(fake.auth_headers) == {"Bearer " + TOKEN}
    assert f"task 7: running '{PY} -c print(42)'" in caplog.text
    assert "task 7: done, exit 0 in " in caplog.text


@pytest.mark.gen_test(timeout=10)
async def test_empty_poll_is_retried_until_a_task_arrives(fake, server_url):
    fake.park_seconds = 0.05
    agent = make_agent(server_url)
    stop = asyncio.Event()
    running = asyncio.ensure_future(agent.run(stop))
    await wait_until(lambda: fake.fetches >= 3)
    fake.add_task(1, f"{PY} -c print('hi')")
    await wait_until(lambda: fake.results)
    stop.set()
    assert await asyncio.wait_for(running, 5) == 0
    assert fake.results[0]["result"].strip() == "hi"


@pytest.mark.gen_test(timeout=10)
async def test_command_not_found_posts_127(fake, server_url):
    fake.add_task(3, "no-such-command-for-toolbox-tests --flag")
    assert await run_once(make_agent(server_url)) == 0
    [result] = fake.results
    assert result["exit_code"] == 127
    missing = "no-such-command-for-toolbox-tests"
    assert result["result"] == f"[toolbox-agent: command not found: {missing}]"


@pytest.mark.gen_test(timeout=10)
async def test_failing_command_reports_its_exit_code(fake, server_url):
    fake.add_task(4, f"{PY} -c print('bad');__import__('sys').exit(3)")
    assert await run_once(make_agent(server_url)) == 0
    [result] = fake.results
    assert result["exit_code"] == 3
    assert result["result"].strip() == "bad"


@pytest.mark.gen_test(timeout=10)
async def test_output_is_capped(fake, server_url):
    fake.add_task(5, f"{PY} -c print('x'*5000)")
    assert await run_once(make_agent(server_url, output_cap=100)) == 0
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
    assert await run_once(make_agent(server_url, command_timeout=0.3)) == 0
    [result] = fake.results
    assert result["exit_code"] == 124
    assert "[toolbox-agent: command timed out after 0.3s]" in result["result"]


@pytest.mark.gen_test(timeout=10)
async def test_output_is_decoded_with_replacement(fake, server_url):
    fake.add_task(8, f"{PY} -c __import__('sys').stdout.buffer.write(b'ok\\xff')")
    assert await run_once(make_agent(server_url)) == 0
    assert fake.results[0]["result"] == "ok\ufffd"


# --- Results ---

@pytest.mark.gen_test(timeout=10)
async def test_result_post_is_retried_while_server_fails(fake, server_url, caplog):
    fake.result_failures = 2
    fake.add_task(9, f"{PY} -c print(1)")
    assert await run_once(make_agent(server_url)) == 0
    assert [r["task_id"] for r in fake.results] == [9]
    assert "task 9: server " in caplog.text and "retrying the result in 0.02s" in caplog.text


@pytest.mark.gen_test(timeout=10)
async def test_result_post_gives_up_after_the_retry_window(caplog):
    agent = make_agent(f"http://127.0.0.1:{free_port()}", post_retry_window=0.1)
    try:
        assert await agent.post_result(1, "out", 0, 5) is False
    finally:
        agent.close()
    assert "task 1: result lost" in caplog.text


@pytest.mark.gen_test(timeout=10)
async def test_result_409_is_not_retried(fake, server_url, caplog):
    fake.result_status = 409
    agent = make_agent(server_url)
    try:
        assert await agent.post_result(2, "out", 0, 5) is False
    finally:
        agent.close()
    assert len(fake.results) == 1
    assert "task 2: server did not take the result: HTTP 409" in caplog.text


# --- Polling errors and stopping ---

@pytest.mark.gen_test(timeout=10)
async def test_401_while_polling_exits(fake, server_url):
    fake.poll_status = 401
    with pytest.raises(AgentError, match=r"refused name/token \(401\): token was reset") as info:
        await asyncio.wait_for(make_agent(server_url).run(asyncio.Event()), 5)
    assert info.value.exit_code == 2
    assert fake.fetches == 1


@pytest.mark.gen_test(timeout=10)
async def test_poll_errors_back_off_and_retry(fake, server_url, caplog):
    fake.poll_status = 500
    agent = make_agent(server_url)
    running = asyncio.ensure_future(agent.run(asyncio.Event(), once=True))
    await wait_until(lambda: fake.fetches >= 3)
    fake.poll_status = 200
    fake.add_task(11, f"{PY} -c print(11)")
    assert await asyncio.wait_for(running, 5) == 0
    assert fake.results[0]["task_id"] == 11
    assert "failed the task fetch: HTTP 500: nope; retrying in 0.02s" in caplog.text


@pytest.mark.gen_test(timeout=10)
async def test_stop_while_idle_exits_promptly(fake, server_url):
    fake.park_seconds = 30
    agent = make_agent(server_url)
    stop = asyncio.Event()
    running = asyncio.ensure_future(agent.run(stop))
    await wait_until(lambda: fake.fetches == 1)
    started = time.monotonic()
    stop.set()
    assert await asyncio.wait_for(running, 2) == 0
    assert time.monotonic() - started < 1


@pytest.mark.gen_test(timeout=10)
async def test_stop_while_running_finishes_and_posts(fake, server_url, caplog):
    caplog.set_level(logging.INFO, logger=agent_client.__name__)
    fake.add_task(12, f"{PY} -c __import__('time').sleep(0.5);print('finished')")
    agent = make_agent(server_url)
    stop = asyncio.Event()
    running = asyncio.ensure_future(agent.run(stop))
    await wait_until(lambda: "task 12: running" in caplog.text)
    stop.set()
    assert await asyncio.wait_for(running, 5) == 0
    [result] = fake.results
    assert result["exit_code"] == 0 and result["result"].strip() == "finished"
    assert fake.fetches == 1  # no new fetch after the stop request


# --- Command line ---

def test_flags_win_over_environment():
    env = {"TOOLBOX_SERVER": "http://env:1", "TOOLBOX_AGENT_NAME": "env-name",
           "TOOLBOX_AGENT_TOKEN": "env-token"}
    args = parse_args(["--name", "flag-name"], env)
    assert (args.server, args.name, args.token) == ("http://env:1", "flag-name", "env-token")
    assert (args.command_timeout, args.output_cap, args.once) == (60.0, 1048576, False)


def test_missing_settings_exit_2(monkeypatch, capsys):
    for var in ("TOOLBOX_SERVER", "TOOLBOX_AGENT_NAME", "TOOLBOX_AGENT_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    assert main(["--name", "x", "--token", "y"]) == 2
    assert "--server (or TOOLBOX_SERVER) is required" in capsys.readouterr().err
    assert main(["--server", "ftp://x", "--name", "x", "--token", "y"]) == 2
