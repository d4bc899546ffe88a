"""Per-tool detail and job actions (issue 12, items 1, 2 and 6) in Debian's Chromium
against a real ``toolbox`` server, with three recorded agents answering through the raw
agent protocol (``tests/console_scenes.py``: routes of three places sharing hops).

- Traceroute and MTR: the merged path view (shared hops are one node, where the paths
  join, diverge and where loss starts, in the graph and in words), hop tables per agent
  (the hop that answered late keeps its address).
- Ping: a reply strip per agent with jitter and loss; ms with 3 digits under 10 ms; the chart has an
  axis, units, tooltips and a legend, and follows the table's sort.
- HTTP: the waterfall (DNS, connect, TLS, first byte, transfer) and the status; the full
  URL with path and port in the heading and History.  DNS: differing answers told apart.
- Actions: start, finish and duration; copy link; export CSV and JSON (the API's files);
  run again (focus on the new job's heading); edit and run (the Run page prefilled).
- At 390 px a job's rows stay short rows and nothing is wider than the screen.

Screenshots of every view at 1280 and 390 px, light and dark, go to the artifacts.
"""

import csv
import io
import json
import os
import re

import pytest

from tests.console_scenes import (CURL, DESTINATION, DIG_ANSWERS, MTRS, PING, PLACES, TRACES, recorded_agents,
                                  run_recorded)
from tests.processes import ServerProcess
from tests.test_console_browser import (ADMIN, CHROMIUM, LAPTOP, PHONE, Shots, call,
                                        evidence, new_page, watch_errors)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
    pytest.mark.timeout(300),
]

URL = f"https://{DESTINATION}:8443/healthz"
NO_SIDEWAYS = "document.scrollingElement.scrollWidth <= window.innerWidth"


def both(page, shots, name):
    """Screenshots light and dark (each at 1280 and 390 px), nothing wider than a phone."""
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        shots(name if scheme == "light" else f"{name}-dark")
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)
    assert page.evaluate(NO_SIDEWAYS), f"{name}: wider than 390 px"
    page.set_viewport_size(LAPTOP)
    page.wait_for_timeout(200)


def open_job(page, server, job_id):
    page.goto(f"{server.url}/#/jobs/{job_id}")
    page.wait_for_selector('tr[data-agent="fra-transit"][data-state="done"]')
    page.wait_for_timeout(150)


def notes(page, testid):
    return page.locator(f"[data-testid={testid}]").all_text_contents()


def test_paths_hops_replies_waterfall_answers_and_the_jobs_actions(chromium, processes, tmp_path):
    server = ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "2"}, cwd=tmp_path)
    processes.append(server)
    login_url = server.wait_for_line(r"one-time link\): (http://\S+)").group(1)
    agents = recorded_agents(call, server.url, PLACES)
    trace = run_recorded(call, server.url, agents, "traceroute", {"target": DESTINATION}, TRACES)
    mtr = run_recorded(call, server.url, agents, "mtr", {"target": DESTINATION}, MTRS)
    ping = run_recorded(call, server.url, agents, "ping", {"target": DESTINATION, "count": 5}, PING)
    curl = run_recorded(call, server.url, agents, "curl", {"url": URL}, CURL)
    dig = run_recorded(call, server.url, agents, "dig", {"target": "cdn.example.com"}, DIG_ANSWERS)

    context, page = new_page(chromium, viewport=LAPTOP, color_scheme="light", timezone_id="UTC")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    with evidence("detail", page, processes):
        errors = watch_errors(page)
        shots = Shots(page, "detail")
        page.goto(login_url)
        page.wait_for_selector(".live-pill.live")

        # Traceroute: one graph of three routes; shared hops are one node.
        open_job(page, server, trace)
        view = "[data-testid=path-view]"
        shared = page.locator(f'{view} g.path-node[data-address="202.97.50.9"]')
        assert shared.count() == 1 and shared.get_attribute("data-agents") == "bj-telecom sh-telecom"
        assert page.get_attribute(f'{view} g.path-node[data-address="{DESTINATION}"]', "data-agents") == "bj-telecom sh-telecom"
        assert page.locator(f'{view} g.path-node.agent').count() == 3
        late = page.locator(f'{view} g.path-node[data-address="62.115.122.4"]')  # "3  * 62.115.122.4  9.5 ms  9.4 ms"
        assert late.get_attribute("data-kind") == "warn" and late.get_attribute("data-loss") == "33"
        assert page.locator(f'{view} g.path-node.silent').count() == 2
        assert notes(page, "path-diverge") == ["Paths diverge after 129.250.3.121: bj-telecom / sh-telecom."]
        assert "Paths join at 202.97.50.9: bj-telecom + sh-telecom." in notes(page, "path-join")
        assert notes(page, "path-loss") == ["fra-transit: loss starts at hop 3 (62.115.122.4, 33 %) and lasts to the end."]
        assert page.locator(f'{view} .path-mark.diverge').count() == 1 and page.locator(f'{view} .path-mark.loss').count() == 1
        tip = page.text_content(f'{view} g.path-node[data-address="202.97.50.9"] title')
        assert "bj-telecom: hop 3, 8.5 ms, 0 % loss" in tip and "sh-telecom: hop 3, 7.94 ms, 0 % loss" in tip
        fra = '[data-testid=hop-tables] .agent-detail[data-agent="fra-transit"]'
        assert page.text_content(f'{fra} tr[data-hop="3"] .hop-where') == "62.115.122.4loss starts"
        assert page.text_content(f'{fra} tr[data-hop="4"] .hop-where') == "no reply"
        assert "destination not reached" in page.text_content(f"{fra} h3")
        both(page, shots, "traceroute")

        # MTR: the loss of bj's core hop is coloured where it starts; fra arrives another way.
        open_job(page, server, mtr)
        core = page.locator(f'{view} g.path-node[data-address="129.250.3.121"]')
        assert core.get_attribute("data-agents") == "bj-telecom sh-telecom" and core.get_attribute("data-kind") == "warn"
        assert notes(page, "path-loss") == ["bj-telecom: loss starts at hop 4 (129.250.3.121, 20 %) and lasts to the end."]
        assert "Paths join at 93.184.216.34: bj-telecom and sh-telecom + fra-transit." in notes(page, "path-join")
        hop = '[data-testid=hop-tables] .agent-detail[data-agent="bj-telecom"] tr[data-hop="4"]'
        assert (page.text_content(f"{hop} td[data-col=best]"), page.text_content(f"{hop} td[data-col=wrst]")) \
            == ("142 ms", "144 ms")
        assert page.get_attribute('tr[data-agent="bj-telecom"] td[data-col=loss]', "class") == "num warn"
        both(page, shots, "mtr")

        # Ping: 3 digits under 10 ms ("0.399 ms"), a strip per agent, jitter and loss; the chart follows the sort.
        open_job(page, server, ping)
        assert page.text_content('tr[data-agent="fra-transit"] td[data-col=avg]') == "0.399 ms"
        assert page.text_content('tr[data-agent="bj-telecom"] td[data-col=avg]') == "159 ms"
        bj = '[data-testid=ping-detail] .agent-detail[data-agent="bj-telecom"]'
        assert page.locator(f"{bj} .strip-mark").count() == 4 and page.locator(f"{bj} .strip-lost").count() == 1
        assert page.text_content(f"{bj} [data-testid=ping-loss]") == "20 % (1 of 5 lost)"
        assert page.text_content(f"{bj} [data-testid=ping-jitter]") == "11.1 ms"  # |6.5| + |7.2| + |19.5| over 3
        assert page.text_content('.agent-detail[data-agent="fra-transit"] [data-testid=ping-jitter]') == "0.0158 ms"
        order = lambda: page.locator(".chart .chart-row").evaluate_all("rows => rows.map(r => r.dataset.label)")  # noqa: E731
        assert order() == ["bj-telecom", "fra-transit", "sh-telecom"]
        page.click('th button[data-key="avg"]')
        assert order() == ["fra-transit", "sh-telecom", "bj-telecom"]  # the table's order
        assert page.locator(".chart .chart-tick").count() >= 4 and page.locator(".chart .chart-grid").count() >= 3
        assert page.text_content('.chart .chart-row[data-label="bj-telecom"] title') \
            == "bj-telecom: average RTT 159 ms (min–max of the replies 152 ms – 171 ms)"
        assert page.text_content('.chart .chart-row[data-label="fra-transit"] .chart-value') == "0.399 ms"
        assert "line: min–max of the replies" in page.text_content("[data-testid=chart-legend]")
        page.focus('th button[data-key="avg"]')
        page.keyboard.press("Enter")  # sorting again by keyboard keeps focus on the header
        assert page.evaluate("document.activeElement.dataset.key") == "avg"
        both(page, shots, "ping")

        # HTTP: the waterfall, the status, the whole URL.
        open_job(page, server, curl)
        assert page.text_content("h1 .target") == URL
        rows = "[data-testid=http-detail] tr[data-agent]"
        phases = page.locator(f'{rows}[data-agent="bj-telecom"] rect').evaluate_all("r => r.map(x => x.dataset.phase)")
        assert phases == ["dns", "connect", "tls", "wait", "transfer"]
        tls = float(page.get_attribute(f'{rows}[data-agent="bj-telecom"] rect[data-phase="tls"]', "data-ms"))
        assert abs(tls - (480.551 - 160.112)) < 0.01
        assert page.text_content(f'{rows}[data-agent="fra-transit"] [data-testid=http-status]') == "HTTP 503"
        assert page.get_attribute('tr[data-agent="fra-transit"]', "data-outcome") == "failed"
        assert page.text_content(f'{rows}[data-agent="fra-transit"] td:last-child') == "402 ms"  # as in the table
        times = page.text_content("[data-testid=job-times]")
        assert re.search(r"at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d .* finished at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d · took ", times), times
        both(page, shots, "curl")

        # Actions: copy link, the exports (the API's own files), run again, edit and run.
        page.click("[data-testid=copy-link]")
        assert page.evaluate("navigator.clipboard.readText()") == f"{server.url}/#/jobs/{curl}"
        exported = page.request.get(server.url + page.get_attribute("[data-testid=export-csv]", "href"))
        assert exported.status == 200 and exported.headers["content-disposition"] == f'attachment; filename="job-{curl}.csv"'
        table = list(csv.DictReader(io.StringIO(exported.text())))
        assert [(r["agent"], r["http_status"], r["target"]) for r in table] == \
            [("bj-telecom", "200", URL), ("fra-transit", "503", URL), ("sh-telecom", "200", URL)]
        whole = json.loads(page.request.get(server.url + page.get_attribute("[data-testid=export-json]", "href")).text())
        assert whole["full_target"] == URL and whole["tasks"][0]["result"] == CURL["bj-telecom"]
        page.click("[data-testid=rerun]")
        page.wait_for_url(re.compile(r".*#/jobs/(?!%d$)\d+$" % curl))
        again = int(page.url.rsplit("/", 1)[1])
        page.wait_for_selector("h1 .target")
        assert page.evaluate("document.activeElement.tagName") == "H1"
        assert call(f"{server.url}/api/jobs/{again}")["params"]["url"] == URL
        assert page.get_attribute('nav a[data-route="run"]', "aria-current") == "page"
        for name in PLACES:  # answer the re-run so it ends
            agents[name].answer(CURL[name])
        page.wait_for_selector('[data-testid="job-outcome"] [data-outcome="partial"]')
        page.click("[data-testid=edit-rerun]")
        page.wait_for_selector(".run-form")
        assert page.get_attribute('.tool-choice[data-tool="curl"]', "aria-checked") == "true"
        assert page.input_value("input[name=url]") == URL and page.input_value("input[name=timeout]") == "10"
        assert page.get_attribute('.tab[data-mode="names"]', "aria-selected") == "true"
        assert sorted(page.locator(".agent-checks input:checked").evaluate_all("b => b.map(x => x.value)")) == sorted(PLACES)
        assert page.text_content('[data-testid="selected-count"]') == "3 agents selected"
        assert f"Prefilled from job #{again}" in page.text_content(".notice")

        # DNS: the places that got other records are told apart.
        open_job(page, server, dig)
        assert notes(page, "dns-differ") == ["2 different answers: A from bj-telecom, sh-telecom; B from fra-transit."]
        odd = '[data-testid=dns-detail] tr[data-agent="fra-transit"]'
        assert page.get_attribute(odd, "data-answer") == "B" and "answer-differs" in page.get_attribute(odd, "class")
        assert page.locator(f"{odd} li.differs").all_text_contents() == ["A 198.51.100.7 ttl 300"]
        assert page.locator('[data-testid=dns-detail] tr[data-agent="sh-telecom"] li.differs').count() == 0
        both(page, shots, "dig")

        # History: the whole URL names the job; a part of it finds it, Enter never reloads.
        page.click('nav a[data-route="history"]')
        page.wait_for_selector(f'tr[data-job="{curl}"]')
        assert page.text_content(f'tr[data-job="{curl}"] td.target') == URL
        page.evaluate("window.__noReload = 'still here'")
        page.fill("input[name=target]", "/healthz")
        page.press("input[name=target]", "Enter")
        page.wait_for_function("() => document.querySelectorAll('table[data-testid=jobs] tr[data-job]').length === 2")
        assert page.evaluate("window.__noReload") == "still here"
        page.click(f'tr[data-job="{curl}"] a')
        page.wait_for_selector('tr[data-agent="fra-transit"][data-state="done"]')
        assert page.get_attribute('nav a[data-route="history"]', "aria-current") == "page"

        # 390 px: a job's rows stay short rows.
        open_job(page, server, ping)
        page.set_viewport_size(PHONE)
        page.wait_for_timeout(300)
        heights = page.locator("table[data-testid=results] tbody tr[data-agent]").evaluate_all(
            "rows => rows.map(r => r.getBoundingClientRect().height)")
        assert len(heights) == 3 and max(heights) < 130, heights
        assert page.evaluate(NO_SIDEWAYS)
        assert errors == [], errors
    context.close()
