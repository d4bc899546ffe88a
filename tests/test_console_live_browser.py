"""A running job moves and stops, in a real headless Chromium against real ``toolbox`` and
``toolbox-agent`` processes on 127.0.0.1 (issue 21, items 1 and 2).

- A 20-count ping to 127.0.0.1, 0.5 s apart: the row's "replies so far" count rises while the task
  runs (from ``task.output`` events), the raw output so far shows live, and the row ends
  ok with all 20.
- Stop on a running job: the agent's ping process is gone and the row says canceled
  within 2 s (5 s allowed for a loaded machine), with the replies it had kept in its raw output.
- A job whose task ends while its page is still loading (the agents' list held back) shows
  the outcome once the page has loaded: the events that came meanwhile are not lost.

Any script error on a page fails the test.
"""

import os
import re
import shutil
import time
from urllib.parse import urlsplit

import pytest

from tests.processes import AgentProcess, ServerProcess, wait_until
from tests.test_console_browser import ADMIN, CHROMIUM, LAPTOP, call, evidence, new_page, watch_errors
from tests.test_live_stop import _cmdline, _zombie, children_of

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
    pytest.mark.skipif(not shutil.which("ping"), reason="ping is not installed (apt-get install iputils-ping)"),
    pytest.mark.timeout(180),
]

# 20 requests, 0.5 s apart: about 10 s, time enough to see the count rise and to stop it.
PING = {"tool": "ping", "params": {"target": "127.0.0.1", "count": 20, "timeout": 1, "interval": 0.5}}


def received(page):
    text = page.text_content('tr[data-agent="live-1"] [data-testid="live-reading"]') or ""
    found = re.search(r"(\d+) of 20 replies so far", text)
    return int(found.group(1)) if found else None


def live_agent(processes, tmp_path):
    """A toolbox server and a toolbox-agent ``live-1`` on it, online: (server, agent, login link)."""
    server = ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "20"}, cwd=tmp_path)
    processes.append(server)
    login_url = server.wait_for_line(r"one-time link\): (http://\S+)").group(1)
    token = call(f"{server.url}/api/agents", "POST", {"name": "live-1"})["token"]
    agent = AgentProcess(server.url, "live-1", token, cwd=tmp_path)
    processes.append(agent)
    assert wait_until(lambda: call(f"{server.url}/api/agents/live-1")["online"], 60)
    return server, agent, login_url


def test_a_running_ping_fills_its_row_and_stop_ends_it(chromium, processes, tmp_path):
    server, agent, login_url = live_agent(processes, tmp_path)

    context, page = new_page(chromium, viewport=LAPTOP, color_scheme="light", timezone_id="UTC")
    with evidence("live-stop", page, processes):
        errors = watch_errors(page)
        page.goto(login_url)
        page.wait_for_selector(".live-pill.live")
        job = call(f"{server.url}/api/jobs", "POST", {**PING, "agents": ["live-1"]})["job_id"]
        page.goto(f"{server.url}/#/jobs/{job}")
        page.wait_for_selector('tr[data-agent="live-1"] [data-testid="live-reading"]')
        counts = []
        page.wait_for_function("""() => {
          const note = document.querySelector('tr[data-agent="live-1"] [data-testid="live-reading"]');
          return note && /\\b([3-9]|1[0-9]) of 20 replies so far/.test(note.textContent);
        }""", timeout=30000)
        counts.append(received(page))
        assert page.get_attribute('tr[data-agent="live-1"]', "data-state") == "dispatched"
        assert re.search(r"last \d", page.text_content('tr[data-agent="live-1"] [data-testid="live-reading"]'))
        page.click('tr[data-agent="live-1"] button[aria-expanded]')  # the raw output so far
        assert "bytes from 127.0.0.1" in page.text_content('[data-testid="raw-live"]')
        page.wait_for_function(f"""() => {{
          const note = document.querySelector('tr[data-agent="live-1"] [data-testid="live-reading"]');
          const m = note && note.textContent.match(/(\\d+) of 20/);
          return m && Number(m[1]) > {counts[0]};
        }}""", timeout=15000)
        counts.append(received(page))
        assert counts[1] > counts[0] and page.get_attribute('tr[data-agent="live-1"]', "data-state") == "dispatched"
        page.wait_for_selector('tr[data-agent="live-1"][data-outcome="ok"]', timeout=40000)
        assert page.query_selector('[data-testid="live-reading"]') is None
        assert page.query_selector('[data-testid="stop-job"]') is None  # ended: nothing to stop

        # Stop: a second ping, stopped from its page once it has replied twice.
        second = call(f"{server.url}/api/jobs", "POST", {**PING, "agents": ["live-1"]})["job_id"]
        page.goto(f"{server.url}/#/jobs/{second}")
        page.wait_for_function("""() => {
          const note = document.querySelector('tr[data-agent="live-1"] [data-testid="live-reading"]');
          return note && /\\b([2-9]|1[0-9]) of 20 replies so far/.test(note.textContent);
        }""", timeout=30000)
        pings = [pid for pid in children_of(agent.proc.pid) if _cmdline(pid).startswith("ping")]
        assert len(pings) == 1
        stop = page.get_by_role("button", name="Stop")
        clicked = time.monotonic()
        stop.click()
        # About 0.3 s on a quiet machine (the 2 s of the issue); the bound leaves a loaded CI
        # machine room and is still well short of the 8 s the ping had left to run.
        page.wait_for_selector('tr[data-agent="live-1"][data-outcome="canceled"]', timeout=5000)
        assert wait_until(lambda: not os.path.exists(f"/proc/{pings[0]}") or _zombie(pings[0]), 5, step=0.05)
        stopped_in = time.monotonic() - clicked
        print(f"stopped {stopped_in:.2f} s after the click")
        assert stopped_in < 5
        page.wait_for_selector('[data-testid="stop-job"]', state="detached")
        page.wait_for_function("""() => {
          const row = document.querySelector('tr[data-agent="live-1"]');
          return row && row.querySelector('button[aria-expanded]');
        }""", timeout=5000)
        raw = page.query_selector('tr[data-agent="live-1"] button[aria-expanded]')
        if raw.get_attribute("aria-expanded") != "true":
            raw.click()
        page.wait_for_function("""() => {
          const pre = document.querySelector('[data-testid="raw-output"]');
          return pre && pre.textContent.includes("stopped on request");
        }""", timeout=5000)
        assert "bytes from 127.0.0.1" in page.text_content('[data-testid="raw-output"]')
        assert errors == []
    context.close()


def test_a_task_that_ends_while_its_job_page_loads_shows_its_outcome(chromium, processes, tmp_path):
    server, _agent, login_url = live_agent(processes, tmp_path)

    context, page = new_page(chromium, viewport=LAPTOP, color_scheme="light", timezone_id="UTC")
    with evidence("live-load-race", page, processes):
        errors = watch_errors(page)
        page.goto(login_url)
        page.wait_for_selector(".live-pill.live")
        held = []  # the job page's read of the agents, answered only once the job has ended
        def agents_list(url):
            return urlsplit(url).path == "/api/agents"
        def hold(route):
            if released:
                route.continue_()
            else:
                held.append(route)
        released = False
        page.route(agents_list, hold)
        ping = {"tool": "ping", "params": {"target": "127.0.0.1", "count": 4, "timeout": 1, "interval": 0.5}}
        job = call(f"{server.url}/api/jobs", "POST", {**ping, "agents": ["live-1"]})["job_id"]
        with page.expect_response(lambda answer: urlsplit(answer.url).path == f"/api/jobs/{job}") as snapshot:
            page.goto(f"{server.url}/#/jobs/{job}")
        assert snapshot.value.json()["finished_at"] is None  # the page read the job while it ran
        for _ in range(200):
            if held:
                break
            page.wait_for_timeout(50)
        assert held, "the job page did not read the agents"
        assert wait_until(lambda: call(f"{server.url}/api/jobs/{job}")["finished_at"], 30)
        page.wait_for_timeout(1000)  # the task's and job's events reach the page meanwhile
        released = True
        for route in held:
            route.continue_()
        page.wait_for_selector('tr[data-agent="live-1"][data-outcome="ok"]', timeout=10000)
        assert page.get_attribute('tr[data-agent="live-1"]', "data-state") == "done"
        assert errors == []
    context.close()
