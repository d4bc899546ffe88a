"""End to end: a real toolbox server process, real agents, driven over HTTP."""

import json
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.processes import AgentProcess, ServerProcess, wait_until

pytestmark = pytest.mark.slow
ADMIN = "e2e-admin-token-0123456789-abcdefgh"


def call(url, method="GET", body=None, token=ADMIN, raw_auth=None, timeout=30):
    """(status, parsed JSON or text) for one HTTP request."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if raw_auth is not None:
        request.add_header("Authorization", raw_auth)
    elif token:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, payload, ctype = response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        with error:  # an HTTPError holds the connection until closed
            status, payload, ctype = error.code, error.read(), error.headers.get("Content-Type", "")
    return status, (json.loads(payload) if ctype.startswith("application/json") else payload.decode())


def wait_for_state(server, task_id, states, timeout=20):
    def reached():
        task = call(f"{server.url}/api/tasks/{task_id}")[1]
        return task if task["state"] in states else None

    task = wait_until(reached, timeout)
    assert task, call(f"{server.url}/api/tasks/{task_id}")[1]
    return task


@pytest.fixture
def server(tmp_path):
    # Run from an empty folder: the installed package must carry its own static files.
    process = ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "5"}, cwd=tmp_path)
    yield process
    assert process.stop() == 0, "\n".join(process.lines)


@pytest.mark.embedded_only("the embedded database's start-up warning; on a MongoDB the server says nothing of the kind")
def test_the_server_prints_its_url_says_data_is_not_kept_and_serves_the_console(server):
    assert any("data will NOT survive a restart" in line for line in server.lines)
    status, page = call(server.url + "/", token=None)
    assert status == 200 and "toolBox" in page
    assert call(server.url + "/healthz", token=None)[0] == 200


def test_a_task_created_through_the_api_comes_back_done_from_a_real_agent(server, tmp_path):
    status, agent = call(server.url + "/api/agents", "POST", {"name": "e2e-1"})
    assert status == 201
    process = AgentProcess(server.url, "e2e-1", agent["token"], cwd=tmp_path)
    try:
        process.wait_for_line("registered")
        command = f"{sys.executable} -c print(6*7)"
        status, created = call(server.url + "/api/tasks", "POST", {"agents": ["e2e-1"], "command": command})
        assert status == 201
        task = wait_for_state(server, created["items"][0]["task_id"], {"done"})
        assert task["result"].strip() == "42" and task["exit_code"] == 0
        assert task["duration_ms"] is not None and task["result_recovered"] is False
        status, listed = call(server.url + "/api/agents/e2e-1")
        assert listed["online"] is True and listed["registered_at"]
    finally:
        assert process.stop() == 0, "\n".join(process.lines)


def test_a_wrong_token_stops_the_reference_agent_with_a_clear_error(server, tmp_path):
    call(server.url + "/api/agents", "POST", {"name": "e2e-2"})
    process = AgentProcess(server.url, "e2e-2", "wrong-token", cwd=tmp_path)
    assert process.proc.wait(20) == 2
    process.stop()
    assert any("refused" in line and "401" in line for line in process.lines), process.lines


def test_a_legacy_go_agent_works_unchanged(server):
    """Emulate the deployed Go agent's wire habits: raw token, a new fetch every 0.2 s without
    waiting, string-built bodies, results with unescaped quotes and backslashes.  (Its one-slot
    queues and crashes are emulated in tests/field_agent.py.)"""
    status, agent = call(server.url + "/api/agents", "POST", {"name": "legacy-1"})
    token = agent["token"]
    register = ('{"name":"legacy-1",\n\t"token":"' + token + '"}').encode()
    assert call(server.url + "/agent/new", "POST", register, raw_auth="")[0] == 200
    commands = [f"echo {i}" for i in range(5)]
    ids = [call(server.url + "/api/tasks", "POST", {"agents": ["legacy-1"], "command": c})[1]["items"][0]["task_id"]
           for c in commands]
    received, errors = [], []

    def fetch():
        try:
            status, reply = call(f"{server.url}/agent/task?agent_name=legacy-1", raw_auth=token)
            if status != 200:
                errors.append(status)
            elif reply["task_id"] and reply["command"]:
                received.append(reply)
                output = 'C:\\Program Files\\x "quoted" ' + reply["command"]
                body = ('{"name":"legacy-1",\n\t"task_id":' + str(reply["task_id"]) + ',\n\t"result":"'
                        + output + '"}')
                status = call(server.url + "/agent/task", "POST", body.encode(), raw_auth=token)[0]
                if status != 200:
                    errors.append(status)
        except Exception as error:  # noqa: BLE001 - recorded and asserted below
            errors.append(repr(error))

    threads = []
    for _ in range(25):  # like the Go agent: fire and do not wait
        thread = threading.Thread(target=fetch, daemon=True)
        thread.start()
        threads.append(thread)
        time.sleep(0.2)
    for thread in threads:
        thread.join(10)
    assert not errors
    assert [r["task_id"] for r in received] == ids  # each exactly once, one at a time, oldest first
    for task_id, command in zip(ids, commands):
        task = wait_for_state(server, task_id, {"done"})
        assert task["result"] == 'C:\\Program Files\\x "quoted" ' + command
        assert task["result_recovered"] is True


def test_bad_settings_stop_the_server_with_one_line(tmp_path):
    for env, expected in [({"PORT": "http"}, "PORT must be a whole number"),
                          ({"TOOLBOX_POLL_TIMEOUT": "-1"}, "TOOLBOX_POLL_TIMEOUT must be greater than 0"),
                          ({"TOOLBOX_DEFAULT_ROLE": "root"}, "TOOLBOX_DEFAULT_ROLE must be one of")]:
        import subprocess

        from tests.processes import _import_root

        result = subprocess.run([sys.executable, "-m", "toolbox"], capture_output=True, text=True, timeout=30,
                                cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": _import_root(), **env})
        assert result.returncode == 2
        assert result.stderr.strip().count("\n") == 0 and expected in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_a_result_far_over_every_size_limit_is_stored_truncated(server):
    status, agent = call(server.url + "/api/agents", "POST", {"name": "big-1"})
    token = agent["token"]
    [task] = call(server.url + "/api/tasks", "POST", {"agents": ["big-1"], "command": "cat /dev/zero"})[1]["items"]
    assert call(f"{server.url}/agent/task?agent_name=big-1", raw_auth=token)[1]["task_id"] == task["task_id"]
    body = b'{"name":"big-1","task_id":%d,"result":"' % task["task_id"] + b"0" * (20 * 1024 * 1024) + b'"}'
    assert call(server.url + "/agent/task", "POST", body, raw_auth=token)[0] == 200
    stored = wait_for_state(server, task["task_id"], {"done"})
    assert stored["result_truncated"] is True and stored["result"] == "0" * (1024 * 1024)


def test_the_reference_agent_keeps_a_fetch_open_through_a_long_command_and_is_never_lost(tmp_path):
    process = ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "1",
                                 "TOOLBOX_OFFLINE_AFTER": "3"}, cwd=tmp_path)
    try:
        status, agent = call(process.url + "/api/agents", "POST", {"name": "long-1"})
        runner = AgentProcess(process.url, "long-1", agent["token"], cwd=tmp_path)
        try:
            runner.wait_for_line("registered")
            [task] = call(process.url + "/api/tasks", "POST", {"agents": ["long-1"], "command": "sleep 8"})[1]["items"]
            done = wait_for_state(process, task["task_id"], {"done", "lost"}, timeout=30)
            assert done["state"] == "done" and done["exit_code"] == 0, done  # well over the offline window
            [task] = call(process.url + "/api/tasks", "POST", {"agents": ["long-1"], "command": "sleep 60"})[1]["items"]
            # Killed only once it runs the command: killed between the server's "dispatched"
            # and the agent reading the answer, the task is put back (it never arrived).
            runner.wait_for_line(rf"task {task['task_id']}: running", timeout=20)
            runner.proc.kill()  # kill -9: the fetch it held open closes with the process
            lost = wait_for_state(process, task["task_id"], {"lost", "done"}, timeout=15)
            assert (lost["state"], lost["reason"]) == ("lost", "agent_offline")
        finally:
            runner.stop()
    finally:
        assert process.stop() == 0, "\n".join(process.lines)
