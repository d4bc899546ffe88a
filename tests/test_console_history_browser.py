"""History for triage (issue 21, item 4), in Debian's Chromium against a real ``toolbox``
process on 127.0.0.1, the jobs answered by a recorded agent (``tests/console_scenes.py``).

- A dig row names its record type ("dig MX", "dig A"): A and MX jobs tell apart.
- The outcome filter (Failed, Partial, OK) leaves only the jobs of that outcome.
- The target search finds a tcp job by ``127.0.0.1:8080``, as its row shows it.
- Live rows: a job started elsewhere appears on the open first page without a reload, and
  its row turns from running to its outcome when its agent answers.
- Run lists a disabled agent greyed, with the reason, its box not selectable; "All online"
  says which disabled agents it leaves out.

Any script error on the page fails the test.
"""

import os

import pytest
from playwright.sync_api import expect

from tests.console_scenes import PING, RecordedAgent, axe_violations, dig_output, run_recorded
from tests.processes import ServerProcess
from tests.test_console_browser import ADMIN, CHROMIUM, LAPTOP, call, evidence, new_page, watch_errors

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
    pytest.mark.timeout(300),
]
AGENT = "bj-telecom"
REFUSED = "toolbox-tcp:host=127.0.0.1;port=8080;open=0;ip=;connect=;error=Connection refused\n"
ROWS = "table[data-testid=jobs] tbody tr[data-job]"


def rows_are(page, count):
    """Wait (Playwright's own wait, no script of ours: the page's CSP forbids eval) for ``count`` rows."""
    expect(page.locator(ROWS)).to_have_count(count, timeout=30000)


def shown_ids(page):
    return [int(i) for i in page.eval_on_selector_all(ROWS, "rows => rows.map((r) => r.dataset.job)")]


def test_history_filters_by_outcome_finds_host_port_shows_record_types_and_lives(chromium, processes, tmp_path):
    server = ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "2"}, cwd=tmp_path)
    processes.append(server)
    login_url = server.wait_for_line(r"one-time link\): (http://\S+)").group(1)
    token = call(f"{server.url}/api/agents", "POST", {"name": AGENT, "tags": []})["token"]
    agents = {AGENT: RecordedAgent(server.url, AGENT, token)}
    run = lambda tool, params, output: run_recorded(call, server.url, agents, tool, params, {AGENT: output})  # noqa: E731
    dig_a = run("dig", {"target": "cdn.example.com", "record_type": "A"}, dig_output("cdn.example.com", ["203.0.113.10"]))
    dig_mx = run("dig", {"target": "cdn.example.com", "record_type": "MX"}, dig_output("cdn.example.com", ["203.0.113.11"]))
    tcp = run("tcp", {"target": "127.0.0.1", "port": 8080}, REFUSED)
    ping = run("ping", {"target": "127.0.0.1", "count": 5}, PING[AGENT])
    outcomes = {job["job_id"]: job["outcome"] for job in call(f"{server.url}/api/jobs")["items"]}
    assert outcomes == {ping: "partial", tcp: "failed", dig_mx: "ok", dig_a: "ok"}  # the ping lost a reply

    context, page = new_page(chromium, viewport=LAPTOP)
    with evidence("history-triage", page, processes):
        errors = watch_errors(page)
        page.goto(login_url)
        page.wait_for_selector(".live-pill.live")
        page.click('nav a[data-route="history"]')
        page.wait_for_selector(ROWS)
        assert shown_ids(page) == [ping, tcp, dig_mx, dig_a]
        tool = lambda job: page.text_content(f'tr[data-job="{job}"] td[data-label=Tool]')  # noqa: E731
        assert (tool(dig_mx), tool(dig_a), tool(ping)) == ("dig MX", "dig A", "ping")

        page.select_option("select[name=outcome]", "failed")
        rows_are(page, 1)
        assert shown_ids(page) == [tcp]
        assert page.get_attribute(f'tr[data-job="{tcp}"]', "data-outcome") == "failed"
        page.select_option("select[name=outcome]", "partial")
        page.wait_for_selector(f'tr[data-job="{ping}"]')
        assert shown_ids(page) == [ping]
        page.select_option("select[name=outcome]", "ok")
        rows_are(page, 2)
        assert shown_ids(page) == [dig_mx, dig_a]
        page.select_option("select[name=outcome]", "")

        page.fill("input[name=target]", "127.0.0.1:8080")
        page.press("input[name=target]", "Enter")
        rows_are(page, 1)
        assert shown_ids(page) == [tcp]
        assert page.text_content(f'tr[data-job="{tcp}"] td[data-label=Target]') == "127.0.0.1:8080"
        page.fill("input[name=target]", "")
        page.press("input[name=target]", "Enter")
        rows_are(page, 4)

        # Live: a job started through the API shows up, running, then ends, with no reload.
        page.evaluate("window.stillThisPage = true")
        job = call(f"{server.url}/api/jobs", "POST", {"tool": "ping", "params": {"target": "127.0.0.1", "count": 5},
                                                      "agents": [AGENT]})["job_id"]
        page.wait_for_selector(f'tr[data-job="{job}"][data-outcome="running"]')
        assert shown_ids(page)[0] == job
        agents[AGENT].answer(PING[AGENT])
        page.wait_for_selector(f'tr[data-job="{job}"][data-outcome="partial"]')
        assert page.evaluate("window.stillThisPage") is True
        assert errors == []
    context.close()


def test_run_lists_a_disabled_agent_greyed_with_the_reason_and_never_selects_it(chromium, processes, tmp_path):
    server = ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "2"}, cwd=tmp_path)
    processes.append(server)
    login_url = server.wait_for_line(r"one-time link\): (http://\S+)").group(1)
    for name in ("bj-telecom", "sh-telecom"):
        call(f"{server.url}/api/agents", "POST", {"name": name, "tags": []})
    call(f"{server.url}/api/agents/sh-telecom", "PATCH", {"disabled": True})

    context, page = new_page(chromium, viewport=LAPTOP, bypass_csp=True)
    with evidence("run-disabled", page, processes):
        errors = watch_errors(page)
        page.goto(login_url)
        page.click('nav a[data-route="run"]')
        page.wait_for_selector(".run-form")
        assert "Left out, disabled: sh-telecom." in page.text_content("[data-testid=disabled-note]")
        page.click('.tab[data-mode="names"]')
        off = page.locator('label.agent-check[data-agent="sh-telecom"]')
        assert off.get_attribute("data-disabled") == "true"
        assert "disabled: gets no tasks until an admin enables it on Agents" in off.text_content()
        assert off.locator("input").is_disabled()
        off.click(force=True)  # a click on it changes nothing
        assert not off.locator("input").is_checked()
        assert page.locator('label.agent-check[data-agent="bj-telecom"] input').is_enabled()
        assert axe_violations(page) == []
        assert errors == []
    context.close()
