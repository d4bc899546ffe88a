"""Accessibility of every console page (issue 12, item 7), in Debian's Chromium against a
real ``toolbox`` server: axe-core (npm, ``tests/axe``), WCAG 2.0/2.1 A and AA, light and
dark, at 1280 and 390 px, with no violation at all.  (The keyboard — focus kept after a
redraw, on the job's heading when a job starts, arrow keys in radio and tab groups, the
actions menu — is driven in ``tests/test_console_fleet_browser.py`` and
``tests/test_console_detail_browser.py``.)

The jobs shown are answered by recorded agents (``tests/console_scenes.py``) through the
raw agent protocol on 127.0.0.1, so each tool's detail view is on the page when axe runs.
Every page: the login page (also as a lost session shows it), Agents, Run, each tool's job,
History (jobs, tasks, and empty under a filter), a missing job, Admin.  Screenshots of each page, 1280 and 390 px wide, light and dark, go to the artifacts.
"""

import os

import pytest

from tests.console_scenes import (AXE, CURL, DESTINATION, DIG_ANSWERS, MTRS, PING, PLACES, TRACES,
                                  axe_violations, recorded_agents, run_recorded)
from tests.processes import ServerProcess
from tests.test_console_browser import (ADMIN, CHROMIUM, LAPTOP, PHONE, Shots, call,
                                        evidence, new_page, watch_errors)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core is missing: tox installs it with npm (apt-get install npm)"),
    pytest.mark.timeout(300),
]


def recorded_jobs(server):
    """One job of each tool, answered by three recorded agents: {tool: job id}."""
    agents = recorded_agents(call, server.url, PLACES, tags={
        "bj-telecom": ["isp:telecom", "city:bj"], "sh-telecom": ["isp:telecom", "city:sh"],
        "fra-transit": ["isp:transit", "city:fra"]})
    return {
        "traceroute": run_recorded(call, server.url, agents, "traceroute", {"target": DESTINATION}, TRACES),
        "mtr": run_recorded(call, server.url, agents, "mtr", {"target": DESTINATION}, MTRS),
        "ping": run_recorded(call, server.url, agents, "ping", {"target": DESTINATION, "count": 5}, PING),
        "dig": run_recorded(call, server.url, agents, "dig", {"target": "cdn.example.com"}, DIG_ANSWERS),
        "curl": run_recorded(call, server.url, agents, "curl", {"url": f"https://{DESTINATION}:8443/healthz"}, CURL),
    }


def check_page(page, shots, name, problems):
    """axe in light and dark at both widths; screenshots of each."""
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for label, size in (("laptop", LAPTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            page.wait_for_timeout(250)
            for violation in axe_violations(page):
                problems.append((name, scheme, label, violation["id"], violation["impact"], violation["nodes"][:3],
                                 len(violation["nodes"])))
        shots(name if scheme == "light" else f"{name}-dark")
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(LAPTOP)


def test_no_axe_violation_on_any_page_light_or_dark(chromium, processes, tmp_path):
    server = ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "2"}, cwd=tmp_path)
    processes.append(server)
    login_url = server.wait_for_line(r"one-time link\): (http://\S+)").group(1)
    jobs = recorded_jobs(server)

    context, page = new_page(chromium, viewport=LAPTOP, color_scheme="light", bypass_csp=True)
    assert not any(job["outcome"] == "failed" for job in call(f"{server.url}/api/jobs")["items"])
    with evidence("a11y", page, processes):
        errors = watch_errors(page)
        shots = Shots(page, "a11y")
        problems = []
        page.goto(server.url + "/")
        page.wait_for_selector(".login-card")
        page.wait_for_timeout(300)
        check_page(page, shots, "login", problems)
        page.goto(login_url)
        page.wait_for_selector('tr[data-agent="bj-telecom"]')
        check_page(page, shots, "agents", problems)
        page.click('nav a[data-route="run"]')
        page.wait_for_selector(".run-form")
        check_page(page, shots, "run", problems)
        page.click('.tab[data-mode="tags"]')
        check_page(page, shots, "run-tags", problems)
        for tool, job_id in jobs.items():
            page.goto(f"{server.url}/#/jobs/{job_id}")
            page.wait_for_selector('tr[data-agent="fra-transit"][data-state="done"]')
            page.wait_for_timeout(200)
            check_page(page, shots, f"job-{tool}", problems)
        page.click('nav a[data-route="history"]')
        page.wait_for_selector("table[data-testid=jobs] tr[data-job]")
        check_page(page, shots, "history", problems)
        page.click('.tabs button:has-text("Tasks")')
        page.wait_for_selector("table[data-testid=tasks] tr[data-task]")
        check_page(page, shots, "history-tasks", problems)
        page.click('.tabs button:has-text("Jobs")')
        page.select_option("select[name=outcome]", "failed")  # none failed: History's empty page
        page.wait_for_selector("#history-list :text('No jobs match these filters.')")
        check_page(page, shots, "history-empty", problems)
        page.select_option("select[name=outcome]", "")
        page.goto(f"{server.url}/#/jobs/999999")
        page.wait_for_selector(".page .msg, .page .empty")
        check_page(page, shots, "job-missing", problems)
        page.click('nav a[data-route="admin"]')
        page.wait_for_selector('section[aria-label="Audit log"] tbody tr')
        check_page(page, shots, "admin", problems)
        page.context.clear_cookies(name="toolbox_session")  # the session ends: the login page says so
        page.click('nav a[data-route="agents"]')
        page.wait_for_selector(".login-card :text('Your session ended')")
        check_page(page, shots, "login-session-ended", problems)
        nodes = sum(p[-1] for p in problems)
        assert problems == [], f"{len(problems)} violations, {nodes} nodes:\n" + "\n".join(map(str, problems))
        assert errors == [], errors
    context.close()
