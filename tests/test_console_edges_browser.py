"""The console's edges (issue 21, item 4, the parts fixed in the console itself), in a real
headless Chromium against a real ``toolbox`` process on 127.0.0.1, with recorded outputs
posted through the agent protocol (``tests/console_scenes.py``).

- One rule for times everywhere, the server's summaries included: milliseconds, whole
  numbers as the tool gave them ("12 ms", never "12.00 ms"), 3 significant digits below
  10 ms ("0.399 ms" in the cell and in the row's "avg 0.399 ms"), a tool's 0 as "<1 ms"
  (dig) or "<0.1 ms" (mtr), never "µs" beside "ms"; a task's Time as a duration ("17 ms",
  "1.2 s"), never "0.0 s".
- "1 hop", not "1 hops"; mtr's hop table has its usual Snt, Last, Avg, Best, Wrst, StDev.
- A dig every agent failed says so with the reasons, never "Every agent got the same answer".
- An HTTP 404 (503 here) shows its timings in the table, the chart and the waterfall alike;
  the table's cumulative "Connected" and the waterfall's "TCP connect" phase are named
  apart, and the table says what its times count from.
- tcp: the connect time per agent in the table and the chart.
- At 390 px, where the stacked table hides its headers, a "Sort by" control sorts the
  table and the chart ("sort the table to reorder" holds).
- axe-core: no violation (link-in-text-block included) on the empty History and a missing
  job's page, light and dark.
- A refused job start (429) says when to retry once.

Any script error on a page fails the test.  Screenshots go to ``$TOOLBOX_TEST_ARTIFACTS``.
"""

import os
import re

import pytest

from tests.console_scenes import (CURL, DESTINATION, DIG_ANSWERS, MTRS, PING, PLACES, axe_violations, dig_output,
                                  recorded_agents, run_recorded)
from tests.processes import ServerProcess, wait_until
from tests.test_console_browser import ADMIN, CHROMIUM, LAPTOP, PHONE, Shots, call, evidence, new_page, watch_errors

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
    pytest.mark.timeout(300),
]

ONE_HOP = f"""traceroute to {DESTINATION} ({DESTINATION}), 30 hops max, 60 byte packets
 1  {DESTINATION} ({DESTINATION})  0.512 ms  0.488 ms  0.455 ms
"""
NXDOMAIN = """; <<>> DiG 9.18.49-1~deb12u3-Debian <<>> +time=3 +tries=2 nosuch.example.com A
;; global options: +cmd
;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 4223
;; flags: qr rd ra; QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 0

;; QUESTION SECTION:
;nosuch.example.com.\t\tIN\tA

;; Query time: 3 msec
;; SERVER: 127.0.0.53#53(127.0.0.53) (UDP)
;; MSG SIZE  rcvd: 36
"""
NO_SERVER = ";; communications error to 127.0.0.53#53: connection refused\n;; no servers could be reached\n"
TCP = {
    "bj-telecom": f"toolbox-tcp:host={DESTINATION};port=443;open=1;ip={DESTINATION};connect=0.152300;error=\n",
    "sh-telecom": f"toolbox-tcp:host={DESTINATION};port=443;open=1;ip={DESTINATION};connect=0.149050;error=\n",
    "fra-transit": f"toolbox-tcp:host={DESTINATION};port=443;open=0;ip=;connect=;error=Connection refused\n",
}


def cell(page, agent, col):
    return page.text_content(f'table[data-testid=results] tr[data-agent="{agent}"] td[data-col={col}]')


def hop_cells(page, agent, hop):
    row = f'[data-testid=hop-tables] .agent-detail[data-agent="{agent}"] tr[data-hop="{hop}"]'
    return page.locator(f"{row} td").all_text_contents()


def open_job(page, server, job_id, agent):
    page.goto(f"{server.url}/#/jobs/{job_id}")
    page.wait_for_selector(f'tr[data-agent="{agent}"][data-state="done"]')
    page.wait_for_timeout(150)


def no_violations(page, name):
    found = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.wait_for_timeout(150)
        found += [(name, scheme, v["id"], v["nodes"]) for v in axe_violations(page)]
    page.emulate_media(color_scheme="light")
    assert found == [], found


def chart_order(page):
    return page.locator(".chart .chart-row").evaluate_all("rows => rows.map((r) => r.dataset.label)")


def row_order(page):
    return page.locator("table[data-testid=results] tbody tr[data-agent]").evaluate_all(
        "rows => rows.map((r) => r.dataset.agent)")


def test_units_labels_hops_failed_dns_http_and_tcp_timings_sorting_on_a_phone_and_axe(chromium, processes, tmp_path):
    server = ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "2"}, cwd=tmp_path)
    processes.append(server)
    login_url = server.wait_for_line(r"one-time link\): (http://\S+)").group(1)
    agents = recorded_agents(call, server.url, PLACES)

    context, page = new_page(chromium, viewport=LAPTOP, color_scheme="light", bypass_csp=True)
    with evidence("edges", page, processes):
        errors = watch_errors(page)
        shots = Shots(page, "edges")
        page.goto(login_url)
        page.wait_for_selector(".live-pill.live")

        # The empty History and a missing job: links in their sentences are underlined.
        page.click('nav a[data-route="history"]')
        page.wait_for_selector(".empty")
        no_violations(page, "empty history")
        page.goto(f"{server.url}/#/jobs/999")
        page.wait_for_selector("text=Job #999 does not exist.")
        no_violations(page, "missing job")

        ping = run_recorded(call, server.url, agents, "ping", {"target": DESTINATION, "count": 5}, PING,
                            durations={"bj-telecom": 17})
        mtr = run_recorded(call, server.url, agents, "mtr", {"target": DESTINATION}, MTRS)
        trace = run_recorded(call, server.url, agents, "traceroute", {"target": DESTINATION}, {"bj-telecom": ONE_HOP})
        quick = dict(DIG_ANSWERS, **{"fra-transit": dig_output("cdn.example.com", ["198.51.100.7"]).replace(
            "Query time: 12 msec", "Query time: 0 msec")})
        dig = run_recorded(call, server.url, agents, "dig", {"target": "cdn.example.com"}, quick)
        no_dns = run_recorded(call, server.url, agents, "dig", {"target": "nosuch.example.com"},
                              {"bj-telecom": NXDOMAIN, "sh-telecom": NXDOMAIN, "fra-transit": NO_SERVER})
        curl = run_recorded(call, server.url, agents, "curl", {"url": f"https://{DESTINATION}:8443/healthz"}, CURL)
        tcp = run_recorded(call, server.url, agents, "tcp", {"target": DESTINATION, "port": 443}, TCP)

        # Ping: the cell and the server's summary say one number one way; Time is a duration.
        open_job(page, server, ping, "fra-transit")
        assert cell(page, "fra-transit", "avg") == "0.399 ms"
        assert page.text_content('tr[data-agent="fra-transit"] [data-testid=row-note]') == "5/5 replies, avg 0.399 ms"
        assert cell(page, "bj-telecom", "avg") == "159 ms"
        assert (cell(page, "bj-telecom", "duration"), cell(page, "sh-telecom", "duration")) == ("17 ms", "1.2 s")
        assert "µs" not in page.text_content("main")
        shots("ping")

        # At 390 px the headers are hidden: "Sort by" sorts the table and the chart.
        page.set_viewport_size(PHONE)
        page.wait_for_timeout(300)
        assert not page.is_visible("table[data-testid=results] thead")
        assert page.is_visible("[data-testid=sort-by]") and page.is_visible("[data-testid=sort-dir]")
        page.select_option("[data-testid=sort-by]", "avg")
        page.wait_for_timeout(200)
        assert row_order(page) == ["fra-transit", "sh-telecom", "bj-telecom"]
        assert chart_order(page) == ["fra-transit", "sh-telecom", "bj-telecom"]
        page.click("[data-testid=sort-dir]")
        page.wait_for_timeout(200)
        assert row_order(page) == ["bj-telecom", "sh-telecom", "fra-transit"] == chart_order(page)
        assert page.text_content("[data-testid=sort-dir]") == "▼ descending"
        no_violations(page, "job at 390 px")
        page.set_viewport_size(LAPTOP)
        page.wait_for_timeout(200)
        assert not page.is_visible("[data-testid=sort-by]")  # the headers sort on a laptop

        # MTR: its usual columns; its 0.0 is "<0.1 ms", the server's summary agrees.
        open_job(page, server, mtr, "fra-transit")
        heads = page.locator('[data-testid=hop-tables] .agent-detail[data-agent="bj-telecom"] thead th').all_text_contents()
        assert heads == ["#", "Address", "Loss", "Snt", "Last", "Avg", "Best", "Wrst", "StDev"]
        assert hop_cells(page, "bj-telecom", 4)[2:] == ["20 %", "10", "142 ms", "143 ms", "142 ms", "144 ms", "0.5 ms"]
        assert hop_cells(page, "bj-telecom", 3)[2:] == ["0 %", "10", "8.5 ms", "8.6 ms", "8.4 ms", "9 ms", "0.2 ms"]
        assert hop_cells(page, "fra-transit", 1)[-1] == "<0.1 ms"
        assert page.text_content('[data-testid=hop-tables] .agent-detail[data-agent="bj-telecom"] [data-testid=hop-count]') \
            == "5 hops"
        assert "µs" not in page.text_content("main")
        shots("mtr")

        # One hop is "1 hop", in the detail and in the server's summary.
        open_job(page, server, trace, "bj-telecom")
        assert page.text_content("[data-testid=hop-count]") == "1 hop"
        assert page.text_content('tr[data-agent="bj-telecom"] [data-testid=row-note]') == f"reached {DESTINATION} in 1 hop"

        # dig counts whole ms: "12 ms" and "<1 ms" in the table, the detail and the summary.
        open_job(page, server, dig, "fra-transit")
        assert (cell(page, "bj-telecom", "time"), cell(page, "fra-transit", "time")) == ("12 ms", "<1 ms")
        assert cell(page, "bj-telecom", "duration") == "1.2 s"
        times = page.locator("table.dns tbody tr td:last-child").all_text_contents()
        assert sorted(times) == ["12 ms", "12 ms", "<1 ms"]
        assert page.text_content('tr[data-agent="fra-transit"] [data-testid=row-note]').startswith("1 A record in <1 ms")

        # A dig no agent got an answer to says so, with why.
        open_job(page, server, no_dns, "fra-transit")
        assert page.locator("[data-testid=dns-same]").count() == 0
        assert page.text_content("[data-testid=dns-none]") == (
            "No agent got an answer: NXDOMAIN (bj-telecom, sh-telecom); no DNS server reached (fra-transit).")
        no_violations(page, "failed dig")

        # HTTP: the 503's timings are in the table, the chart and the waterfall alike.
        open_job(page, server, curl, "fra-transit")
        assert page.text_content('tr[data-agent="fra-transit"] [data-testid=row-note]').startswith("HTTP 503 in 402 ms")
        assert (cell(page, "fra-transit", "http"), cell(page, "fra-transit", "total")) == ("503", "402 ms")
        assert cell(page, "fra-transit", "connect") == "94.0 ms"
        assert page.locator(".chart .chart-bar").count() == 3
        assert page.text_content('.chart .chart-row[data-label="fra-transit"] .chart-value') == "402 ms"
        assert page.text_content('[data-testid=http-detail] tr[data-agent="fra-transit"] td:last-child') == "402 ms"
        heads = page.locator("table[data-testid=results] thead th").all_text_contents()
        assert [re.sub(r"\s*[▲▼]$", "", t) for t in heads[2:7]] == ["HTTP", "DNS done", "Connected", "TLS done", "First byte"]
        assert "TCP connect" in page.text_content("[data-testid=http-detail] .path-legend")
        assert "from the start of the request" in page.text_content("[data-testid=table-note]")
        shots("curl")

        # tcp: the connect time per agent, in the table and the chart.
        open_job(page, server, tcp, "fra-transit")
        assert (cell(page, "bj-telecom", "connect"), cell(page, "sh-telecom", "connect")) == ("152 ms", "149 ms")
        assert cell(page, "fra-transit", "connect") == "—"
        assert page.text_content(".chart-card h2") == "Connect time per agent"
        assert page.locator(".chart .chart-bar").count() == 2
        shots("tcp")
        assert errors == []
    context.close()


def test_a_refused_start_says_when_to_retry_once(chromium, processes, tmp_path):
    server = ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_JOBS_PER_MINUTE": "1"}, cwd=tmp_path)
    processes.append(server)
    login_url = server.wait_for_line(r"one-time link\): (http://\S+)").group(1)
    recorded_agents(call, server.url, ["solo"])
    assert wait_until(lambda: call(f"{server.url}/api/agents/solo")["online"], 20)

    context, page = new_page(chromium, viewport=LAPTOP, color_scheme="light")
    with evidence("edges-retry", page, processes):
        errors = watch_errors(page)
        page.goto(login_url)
        page.wait_for_selector(".live-pill.live")
        for attempt in range(2):
            page.click('nav a[data-route="run"]')
            page.click('.tool-choice[data-tool="ping"]')
            page.fill("input[name=target]", DESTINATION)
            page.click('.tab[data-mode="names"]')
            page.check('label[data-agent="solo"] input')
            page.click(".run-form button[type=submit]")
            if attempt == 0:
                page.wait_for_url("**/#/jobs/*")
        refusal = page.wait_for_selector(".msg.error")
        text = refusal.text_content()
        assert re.search(r"retry in \d+ s", text), text
        assert len(re.findall(r"(retry|try again) in \d+ s", text)) == 1, text
        assert errors == []
    context.close()
