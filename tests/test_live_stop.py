"""Output that streams and a job that stops, end to end: a real ``toolbox`` server and a
real ``toolbox-agent`` on 127.0.0.1.

- A 20-count ping to 127.0.0.1, one request every 0.5 s (``PING``): while it runs, ``GET /api/tasks/{id}`` carries its output
  so far and the replies received, and the count rises before the task ends; the result
  replaces the partial output.
- Stop: cancelling the job while a long ping runs stops it: the task ends ``canceled`` at
  once, the agent kills the command's process group (the ping process is gone within 2 s)
  and posts what it had, which is kept in the canceled task; the agent takes the next task.
"""

import os
import re
import time

import pytest

from tests.processes import AgentProcess, ServerProcess, wait_until
from tests.test_console_browser import ADMIN, call

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

# 20 requests, 0.5 s apart: about 10 s, time enough to see the count rise and to stop it.
PING = {"tool": "ping", "params": {"target": "127.0.0.1", "count": 20, "interval": 0.5}}


def start(processes, tmp_path, name):
    server = ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "20"}, cwd=tmp_path)
    processes.append(server)
    token = call(f"{server.url}/api/agents", "POST", {"name": name})["token"]
    agent = AgentProcess(server.url, name, token, cwd=tmp_path)
    processes.append(agent)
    assert wait_until(lambda: call(f"{server.url}/api/agents/{name}")["online"], 60), "the agent never came online"
    return server, agent


def job_task(server, job_id):
    tasks = call(f"{server.url}/api/jobs/{job_id}")["tasks"]
    return call(f"{server.url}/api/tasks/{tasks[0]['task_id']}") if tasks else None


def children_of(pid):
    """Pids of the processes whose parent is ``pid`` (read from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def test_a_running_ping_shows_its_replies_so_far(processes, tmp_path):
    server, _agent = start(processes, tmp_path, "streamer")
    job = call(f"{server.url}/api/jobs", "POST",
               {**PING, "agents": ["streamer"]})
    seen = []

    def some_replies():
        task = job_task(server, job["job_id"])
        partial = task and task.get("partial")
        if partial and task["state"] == "dispatched":
            seen.append(partial["reading"].get("received", 0))
            assert "bytes from 127.0.0.1" in partial["output"] or seen[-1] == 0
        return len(set(seen)) >= 3 and task
    running = wait_until(some_replies, 40, step=0.3)
    assert running, f"no partial output seen while the ping ran: {seen}"
    assert running["state"] == "dispatched" and seen == sorted(seen) and 0 < seen[-1] < 20
    assert running["partial"]["bytes"] >= len(running["partial"]["output"].encode()) > 0
    done = wait_until(lambda: (task := job_task(server, job["job_id"]))["state"] == "done" and task, 40)
    assert done, job_task(server, job["job_id"])
    assert done["partial"] is None and done["parsed"]["received"] == 20


def test_stop_kills_the_command_and_keeps_what_it_wrote(processes, tmp_path):
    server, agent = start(processes, tmp_path, "stopper")
    job = call(f"{server.url}/api/jobs", "POST",
               {**PING, "agents": ["stopper"]})
    replies = wait_until(lambda: ((task := job_task(server, job["job_id"])) and (task.get("partial") or {})
                                  .get("reading", {}).get("received", 0) >= 2 and task), 40, step=0.2)
    assert replies, "the ping never showed replies"
    pings = [pid for pid in children_of(agent.proc.pid) if _cmdline(pid).startswith("ping")]
    assert len(pings) == 1, "the agent's ping process was not found"
    assert _cmdline(pings[0]).rstrip("\0").split("\0")[-3:-1] == ["-i", "0.5"]  # the job's interval, on its command line
    stopped_at = time.monotonic()
    canceled = call(f"{server.url}/api/jobs/{job['job_id']}/cancel", "POST")
    assert canceled["state"] == "canceled"
    gone = wait_until(lambda: not os.path.exists(f"/proc/{pings[0]}") or _zombie(pings[0]), 2, step=0.05)
    assert gone, "the ping still runs 2 s after Stop"
    task = wait_until(lambda: (t := job_task(server, job["job_id"]))["state"] == "canceled" and t.get("result")
                      and t, 2, step=0.05)
    assert task, "the stopped task did not get what the ping had written"
    assert time.monotonic() - stopped_at < 2.5
    assert task["outcome"] == "canceled" and task["exit_code"] == 143
    assert task["summary"].startswith("stopped")
    assert re.search(r"bytes from 127\.0\.0\.1", task["result"]) and "stopped on request" in task["result"]
    assert 2 <= len(task["parsed"]["replies"]) < 20 and task["partial"] is None
    assert call(f"{server.url}/api/jobs/{job['job_id']}")["state"] == "canceled"
    # the agent is free again: the next job runs
    again = call(f"{server.url}/api/jobs", "POST",
                 {"tool": "ping", "params": {"target": "127.0.0.1", "count": 1}, "agents": ["stopper"]})
    assert wait_until(lambda: job_task(server, again["job_id"])["state"] == "done", 30)


def _zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline") as cmdline:
            return cmdline.read()
    except OSError:
        return ""
