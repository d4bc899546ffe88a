"""Stops and restarts that keep the field agent alive (it dies on a dropped request, 2c).

A stop answers every parked fetch with the empty reply before it closes; with
``--reuse-port`` a new process takes the port over first, and the old one hands over
without a refused, reset or unanswered request, not even for connections the kernel had
queued on its listening socket but it had not accepted yet.
"""

import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest
import tornado.httpserver
import tornado.netutil
import tornado.testing

from tests.field_agent import FieldAgent
from tests.processes import ServerProcess, _import_root, wait_until
from tests.test_field_agent import ADMIN, Server
from tests.test_shared_database import fetch

pytestmark = pytest.mark.slow


def test_a_plain_stop_answers_the_parked_fetch_before_it_closes(tmp_path):
    process = ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "60"}, cwd=tmp_path)
    server = Server(process)
    token = server.agent("stop-1")
    replies = []
    parked = threading.Thread(target=lambda: replies.append(fetch(server, "stop-1", token, timeout=30)))
    parked.start()
    assert wait_until(lambda: server.parked_fetches() == 1, timeout=10)
    started = time.monotonic()
    assert process.stop() == 0
    parked.join(10)
    assert replies == [(200, {"task_id": 0, "command": ""})]  # answered, never reset
    assert time.monotonic() - started < 10
    assert any("answering every request held" in line for line in process.lines)


def test_reuse_port_needs_a_shared_database(tmp_path):
    result = subprocess.run([sys.executable, "-m", "toolbox", "--port", "0", "--reuse-port"], capture_output=True,
                            text=True, timeout=30, cwd=tmp_path,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": _import_root(), "TOOLBOX_ADMIN_TOKEN": ADMIN})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--reuse-port needs MONGODB_URI" in result.stderr and result.stderr.strip().count("\n") == 0


def test_a_restart_on_a_shared_port_keeps_the_field_agent_alive_and_loses_no_task(mongodb_wire_uri, tmp_path):
    sock, port = tornado.testing.bind_unused_port()
    sock.close()
    uri = f"{mongodb_wire_uri.rstrip('/')}/toolbox_restart_{uuid.uuid4().hex[:10]}"
    env = {"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "5", "MONGODB_URI": uri,
           "TOOLBOX_AGENT_REFRESH": "0.5"}
    old = ServerProcess(env=env, args=("--port", str(port), "--reuse-port"), cwd=tmp_path)
    server = Server(old)  # the port's URL: whichever process answers it
    token = server.agent("restart-1")
    agent = FieldAgent(server.url, "restart-1", token, interval=0.2).start()
    new = None
    try:
        ids, stop_queueing = [], threading.Event()

        def queue_steadily():  # tasks keep coming through the port during the handover
            for i in range(40):
                if stop_queueing.is_set():
                    return
                ids.extend(server.queue("restart-1", f"echo task-{i}"))
                time.sleep(0.25)

        queuer = threading.Thread(target=queue_steadily, daemon=True)
        queuer.start()
        time.sleep(2)
        new = ServerProcess(env=env, args=("--port", str(port), "--reuse-port"), cwd=tmp_path)
        time.sleep(1)  # both processes take connections on the port now
        assert old.stop() == 0, "\n".join(old.lines)
        assert any("stopped" in line for line in old.lines)
        queuer.join(30)
        stop_queueing.set()
        tasks = wait_until(lambda: server.finished(ids), timeout=60)
        if not tasks:  # which tasks, what the agent fetched, what both processes said
            unfinished = [task for task in map(server.task, ids) if task["state"] in ("queued", "dispatched")]
            pytest.fail("\n".join([str(unfinished), f"fetched {agent.fetched}",
                                    "old:", *old.lines, "new:", *new.lines]))
        assert agent.crashed is None, agent.crashed  # no request refused, reset or unanswered
        assert [task["result"] for task in tasks] == [f"task-{i}" for i in range(len(ids))]
        # ids come from per-process blocks: the order of creation is not the order of the numbers
        assert sorted(agent.fetched) == sorted(ids) and len(set(agent.fetched)) == len(ids)  # none lost or doubled
    finally:
        agent.kill()
        if new is not None:
            assert new.stop() == 0, "\n".join(new.lines)


@pytest.mark.gen_test(timeout=20)
async def test_a_stop_serves_the_connections_queued_but_not_yet_accepted(app):
    """A busy process accepts only between turns of its loop: what the kernel queued
    meanwhile is served before the listening socket closes, not reset."""
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    # The loop does not turn while this runs: the kernel completes these connections and
    # queues them, unaccepted, as it does for a server busy elsewhere.
    clients = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(5)]
    try:
        for client in clients:
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: toolbox\r\n\r\n")
        await app.toolbox.stop_gracefully(server, sockets, settle=0.2, limit=5)
        for client in clients:
            reply = client.recv(65536)  # a reset would raise ConnectionResetError here
            assert reply.startswith(b"HTTP/1.1 200 "), reply
    finally:
        for client in clients:
            client.close()
