"""Why a task waits for an agent that is disabled or was just enabled, in a real headless
Chromium against real ``toolbox`` and ``toolbox-agent`` processes on 127.0.0.1 (issue 21,
"Disable").

- A job queued behind a running one, its agent disabled meanwhile: the job view's row says
  the agent is disabled and the task waits until an admin enables it.
- That toolbox-agent, refused, pauses (it asks again every 30 s). Enabled again: the job
  view's row says when, and that it asks again within 30 s; Run says the same beside its
  name and under the selection; the task runs within that time.

Any script error on a page fails the test.
"""

import datetime
import os
import re
import shutil

import pytest

from tests.console_scenes import axe_violations
from tests.processes import AgentProcess, ServerProcess, wait_until
from tests.test_console_browser import ADMIN, CHROMIUM, LAPTOP, call, evidence, new_page, watch_errors

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
    pytest.mark.skipif(not shutil.which("ping"), reason="ping is not installed (apt-get install iputils-ping)"),
    pytest.mark.timeout(180),
]

ROW = 'tr[data-agent="sleepy"]'
ENABLED = r"agent enabled at \d{2}:\d{2}:\d{2}: toolbox-agent paused while disabled and asks again within 30 s"


def parse_time(iso):
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))


def row_note(page):
    return page.text_content(f"{ROW} [data-testid=row-note]")


def test_a_disabled_then_enabled_agent_says_why_its_task_waits(chromium, processes, tmp_path):
    server = ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "20"}, cwd=tmp_path)
    processes.append(server)
    login_url = server.wait_for_line(r"one-time link\): (http://\S+)").group(1)
    token = call(f"{server.url}/api/agents", "POST", {"name": "sleepy"})["token"]
    agent = AgentProcess(server.url, "sleepy", token, cwd=tmp_path)
    processes.append(agent)
    assert wait_until(lambda: call(f"{server.url}/api/agents/sleepy")["online"], 60)

    context, page = new_page(chromium, viewport=LAPTOP, color_scheme="light", timezone_id="UTC", bypass_csp=True)
    with evidence("wake-on-enable", page, processes):
        errors = watch_errors(page)
        page.goto(login_url)
        page.wait_for_selector(".live-pill.live")
        ping = {"tool": "ping", "params": {"target": "127.0.0.1", "count": 3, "interval": 0.5}, "agents": ["sleepy"]}
        running = call(f"{server.url}/api/jobs", "POST", ping)["job_id"]
        waiting = call(f"{server.url}/api/jobs", "POST", {**ping, "params": {"target": "127.0.0.1", "count": 1}})
        assert waiting["tasks"][0]["state"] == "queued"  # one task at a time: behind the running one
        call(f"{server.url}/api/agents/sleepy", "PATCH", {"disabled": True})

        # Disabled: its queued task says why it waits.
        page.goto(f"{server.url}/#/jobs/{waiting['job_id']}")
        page.wait_for_selector(f'{ROW}[data-state="queued"]')
        assert row_note(page) == ("agent disabled: the task waits until an admin enables it on Agents "
                                  "(or it times out)")
        assert axe_violations(page) == []
        assert wait_until(lambda: call(f"{server.url}/api/jobs/{running}")["state"] == "done", 30)
        agent.wait_for_line(r"disabled on the server; asking again every 30 s", timeout=60)
        # Refused while busy it asks every 4 s; its first ask once idle starts the 30 s pause.
        posted = parse_time(call(f"{server.url}/api/jobs/{running}")["tasks"][0]["finished_at"])
        assert wait_until(lambda: parse_time(call(f"{server.url}/api/agents/sleepy")["last_seen"])
                          > posted + datetime.timedelta(seconds=0.5), 15, step=0.1), "it never asked once idle"

        # Enabled again: the same row says when, and how long the paused agent may take.
        enabled = call(f"{server.url}/api/agents/sleepy", "PATCH", {"disabled": False})
        assert enabled["enabled_at"] is not None
        page.reload()
        page.wait_for_selector(f'{ROW}[data-state="queued"]')
        assert re.fullmatch(ENABLED, row_note(page)), row_note(page)

        # Run says it too, beside the agent and under the selection.
        page.click('nav a[data-route="run"]')
        page.click('.tool-choice[data-tool="ping"]')
        page.click('.tab[data-mode="names"]')
        label = page.locator('label.agent-check[data-agent="sleepy"]')
        label.locator("input").check()
        assert re.search(ENABLED.replace("agent enabled", "enabled"), label.text_content()), label.text_content()
        summary = page.text_content('[data-testid="wake-summary"]')
        assert summary == ("Just enabled: sleepy. toolbox-agent paused while disabled and asks again within 30 s "
                           "of being enabled: its task may wait that long.")
        assert axe_violations(page) == []

        # And so it does: the task runs within the pause, not at once.
        page.goto(f"{server.url}/#/jobs/{waiting['job_id']}")
        page.wait_for_selector(f'{ROW}[data-state="done"]', timeout=40000)
        assert "enabled at" not in row_note(page)
        dispatched = parse_time(call(f"{server.url}/api/jobs/{waiting['job_id']}")["tasks"][0]["dispatched_at"])
        assert datetime.timedelta(seconds=5) < dispatched - parse_time(enabled["enabled_at"]) \
            < datetime.timedelta(seconds=35)
        assert errors == []
    context.close()
