"""Two server processes on one MongoDB-wire database (SecantusDB): each transition of an
alert is notified once, whichever process ran the round and whichever the agent reported to.

The emulated field agent uses both processes in turn (a round-robin balancer), runs a tcp
check against a port on 127.0.0.1 that refuses, then listens; the test makes rounds due by
moving the schedule's ``next_run`` back in the database.  A webhook receiver (a thread on
127.0.0.1) checks every signature and counts what it got.
"""

import datetime
import hashlib
import hmac
import http.server
import json
import socket
import threading
import time
import uuid

import pymongo
import pytest

from tests.field_agent import FieldAgent
from tests.processes import ServerProcess, wait_until
from tests.test_field_agent import ADMIN, Server

pytestmark = pytest.mark.slow
SECRET = "shared-hook-secret"


class Hook(http.server.BaseHTTPRequestHandler):
    got: list = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        stamp = self.headers.get("X-Toolbox-Timestamp", "")
        expected = "sha256=" + hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        fresh = stamp.isdigit() and abs(time.time() - int(stamp)) <= 300
        ok = fresh and hmac.compare_digest(self.headers.get("X-Toolbox-Signature", ""), expected)
        if ok:
            self.got.append(json.loads(body)["event"])
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def shared(mongodb_wire_uri, tmp_path):
    name = f"toolbox_alerts_{uuid.uuid4().hex[:10]}"
    uri = f"{mongodb_wire_uri.rstrip('/')}/{name}"
    env = {"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "2", "MONGODB_URI": uri,
           "TOOLBOX_AGENT_REFRESH": "0.5", "TOOLBOX_SWEEP_INTERVAL": "0.1", "TOOLBOX_ALERT_RETRY_BASE": "0.2"}
    processes = [ServerProcess(env=env, cwd=tmp_path), ServerProcess(env=env, cwd=tmp_path)]
    client = pymongo.MongoClient(mongodb_wire_uri, tz_aware=True, serverSelectionTimeoutMS=5000)
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    yield [Server(process) for process in processes], client[name], f"http://127.0.0.1:{hook.server_port}/hook"
    hook.shutdown()
    hook.server_close()
    client.close()
    for process in processes:
        assert process.stop() == 0, "\n".join(process.lines)


def test_two_processes_notify_each_fire_and_clear_once(shared):
    (first, second), database, hook_url = shared
    Hook.got = []
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    agent = FieldAgent(first.url, "shared-1", first.agent("shared-1"), interval=0.2,
                       servers=[first.url, second.url]).start()
    try:
        status, made = first.call("/api/channels", "POST", {"type": "webhook", "name": "hook", "url": hook_url,
                                                            "secret": SECRET})
        assert status == 201, made
        status, schedule = second.call("/api/schedules", "POST", {
            "tool": "tcp", "params": {"target": "127.0.0.1", "port": port.getsockname()[1]},
            "agents": ["shared-1"], "interval": 60,
            "start_at": (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).isoformat()})
        assert status == 201, schedule
        sid = schedule["schedule_id"]
        status, rule = first.call(f"/api/schedules/{sid}/alerts", "POST", {
            "when": {"tcp": "refused"}, "channels": [made["channel_id"]]})
        assert status == 201, rule

        def run_round(count):
            due = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
            database["schedules"].update_one({"_id": sid}, {"$set": {"next_run": due}})

            def done():
                items = first.call(f"/api/schedules/{sid}/rounds")[1]["items"]
                if len(items) < count or not items[0]["job_id"]:
                    return None
                return first.call(f"/api/jobs/{items[0]['job_id']}")[1]["state"] == "done"

            assert wait_until(done, timeout=30), count

        for count in (1, 2, 3):
            run_round(count)
        assert wait_until(lambda: Hook.got == ["alert.fire"], timeout=20), Hook.got
        port.listen(8)
        for count in (4, 5):
            run_round(count)
        assert wait_until(lambda: Hook.got == ["alert.fire", "alert.clear"], timeout=20), Hook.got
        time.sleep(1)  # a duplicate would come within the sweeps of this second (0.1 s apart)
        assert Hook.got == ["alert.fire", "alert.clear"]
        alerts = first.call("/api/alerts")[1]["items"]
        assert len(alerts) == 1 and alerts[0]["state"] == "resolved"
        assert database["alert_notifications"].count_documents({}) == 2
        assert agent.crashed is None
    finally:
        agent.kill()
        port.close()
