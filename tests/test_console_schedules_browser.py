"""The console's schedules (issue 19, item 5), in Debian's Chromium against a real toolbox
server (in a thread of the test: ``tests/server_thread.py``) and a real ``toolbox-agent``
pinging 127.0.0.1.

- "Repeat every…" on a job view makes a schedule of that job; its rounds happen for real
  (the first at once; changing the interval runs the next at once) and each new round
  appears on the open graph live; a click on a round's point, or Enter on the focused
  chart, opens that round's job.
- The Schedules page: each schedule's last round (its job's outcome and summary), next
  run, Pause/Resume, Edit, Delete (asked first; "Keep it" keeps it), New schedule.
- The long presets over a year of points written through the series' one write path
  (``series.record``) and rolled up: 3 h and 30 h from each round, 10 d hourly, 360 d
  daily; failures marked on the axis and never drawn as values; loss as colour; zoom by
  buttons and by a drag; agents overlaid or one chart each; no sideways scroll at 390 px;
  axe-core finds nothing, light or dark.
"""

import datetime
import os
import re
import shutil

import pytest

from tests.console_scenes import AXE, axe_violations
from tests.processes import AgentProcess, wait_until
from tests.server_thread import ServerThread
from tests.test_console_browser import (ADMIN, CHROMIUM, LAPTOP, PHONE, Shots, call, evidence, new_page,
                                        watch_errors)
from tests.test_series import ping_task
from toolbox.watch.points import point_of

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
    pytest.mark.timeout(300),
]

NO_SIDEWAYS = "document.scrollingElement.scrollWidth <= window.innerWidth"
DOTS = "document.querySelectorAll('svg.smoke .dot').length"
DRAWN_WIDE = """() => { const chart = document.querySelector('svg.smoke');
  return chart && chart.viewBox.baseVal.width === document.querySelector('.smoke-card').clientWidth - 36; }"""


@pytest.fixture
def server():
    started = ServerThread(ADMIN)
    yield started
    started.stop()


def rounds(server, sid):
    return call(f"{server.url}/api/schedules/{sid}/rounds")["items"]


def job_done(server, job_id):
    return call(f"{server.url}/api/jobs/{job_id}")["finished_at"]


@pytest.mark.skipif(not shutil.which("ping"), reason="ping is not installed (apt-get install iputils-ping)")
def test_repeat_a_job_watch_its_rounds_arrive_live_and_manage_schedules(chromium, server, processes, tmp_path):
    token = call(f"{server.url}/api/agents", "POST", {"name": "lab-1", "tags": ["lab"]})["token"]
    processes.append(AgentProcess(server.url, "lab-1", token, cwd=tmp_path))
    assert wait_until(lambda: call(f"{server.url}/api/agents/lab-1")["online"], 60)
    job = call(f"{server.url}/api/jobs", "POST", {"tool": "ping", "params": {"target": "127.0.0.1", "count": 2},
                                                  "agents": ["lab-1"]})
    assert wait_until(lambda: job_done(server, job["job_id"]), 60)

    context, page = new_page(chromium, viewport=LAPTOP, color_scheme="light")
    with evidence("schedules-live", page, processes):
        errors = watch_errors(page)
        shots = Shots(page, "schedules")
        page.goto(server.login_url)
        page.wait_for_selector("nav a[data-route=schedules]")
        page.goto(f"{server.url}/#/jobs/{job['job_id']}")

        # Repeat every…: opens a small form on the job view, picks 1 min, makes the schedule.
        page.click("[data-testid=repeat]")
        assert page.get_attribute("[data-testid=repeat]", "aria-expanded") == "true"
        assert page.evaluate("document.activeElement.dataset.testid") == "repeat-interval"
        page.select_option("[data-testid=repeat-interval]", "60")
        page.fill('.repeat-form input[name=name]', "lab loopback")
        page.click(".repeat-form button[type=submit]")
        page.wait_for_url(re.compile(r"#/schedules/\d+$"))
        sid = int(page.url.rsplit("/", 1)[1])
        made = call(f"{server.url}/api/schedules/{sid}")
        assert (made["tool"], made["params"]["target"], made["params"]["count"], made["agents"], made["interval"]) == \
            ("ping", "127.0.0.1", 2, ["lab-1"], 60)
        assert page.text_content("h1").startswith("lab loopback")
        assert "every 1 min" in page.text_content(".schedule-meta")
        page.evaluate("window.__notReloaded = true")

        # The first round runs at once; its point appears without a reload.
        page.wait_for_function(f"() => {DOTS} === 1", timeout=60000)
        [first] = rounds(server, sid)
        assert first["state"] == "fired" and first["agents"] == 1
        assert wait_until(lambda: job_done(server, first["job_id"]), 30)
        assert page.locator("[data-testid=rounds] tbody tr").count() == 1
        assert page.locator("svg.smoke .seg.loss-0").count() == 1  # 127.0.0.1 loses nothing: green

        # Paused and resumed, the schedule runs a round now: it arrives on the open graph live.
        # (A new interval alone keeps the rhythm: no round at once.)
        call(f"{server.url}/api/schedules/{sid}", "PATCH", {"interval": 120})
        call(f"{server.url}/api/schedules/{sid}", "PATCH", {"enabled": False})
        call(f"{server.url}/api/schedules/{sid}", "PATCH", {"enabled": True})
        page.wait_for_function(f"() => {DOTS} === 2", timeout=60000)
        page.wait_for_function("() => document.querySelectorAll('[data-testid=rounds] tbody tr').length === 2")
        assert page.evaluate("window.__notReloaded") is True
        second = rounds(server, sid)[0]
        assert second["job_id"] != first["job_id"]
        shots("view-live")
        # the screenshots' narrow viewport and back: the chart is drawn again for the wide one
        page.wait_for_function(DRAWN_WIDE)

        # A click on a round's point opens its job; Enter on the focused chart too.
        # (a live update may redraw the chart between finding the dot and measuring it)
        box = wait_until(lambda: page.locator("svg.smoke .dot").last.bounding_box(), 10)
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_url(re.compile(rf"#/jobs/{second['job_id']}$"))
        assert page.get_attribute("nav a[data-route=schedules]", "aria-current") == "page"
        page.go_back()
        page.wait_for_function(f"() => {DOTS} === 2")
        page.focus("svg.smoke")
        page.keyboard.press("Home")
        assert f"Enter opens job #{first['job_id']}" in page.text_content("[data-testid=smoke-readout]")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(rf"#/jobs/{first['job_id']}$"))

        # The Schedules page: the last round's summary and the next run.
        page.click("nav a[data-route=schedules]")
        row = f'tr[data-schedule="{sid}"]'
        page.wait_for_selector(f"{row} [data-testid=last-round] .badge")
        last = page.text_content(f"{row} [data-testid=last-round]")
        assert f"#{second['job_id']}" in last and "1 ok" in last, last
        assert re.match(r"in (1|2) min|in \d+ s", page.text_content(f"{row} [data-testid=next-run]"))
        assert page.text_content(f"{row} td[data-label=Every]") == "every 2 min"

        # Pause and resume.
        page.click(f"{row} [data-testid=toggle]")
        page.wait_for_selector(f'{row}[data-enabled="false"]')
        assert page.text_content(f"{row} [data-testid=next-run]") == "paused"
        assert call(f"{server.url}/api/schedules/{sid}")["enabled"] is False
        page.click(f"{row} [data-testid=toggle]")
        page.wait_for_selector(f'{row}[data-enabled="true"]')

        # Edit: the name and the interval.
        page.click(f"{row} [data-testid=edit]")
        form = 'form[aria-label^="Edit schedule"]'
        assert page.input_value(f"{form} input[name=name]") == "lab loopback"
        assert page.input_value(f"{form} input[name=param-target]") == "127.0.0.1"
        page.fill(f"{form} input[name=name]", "loopback, 5 min")
        page.select_option(f"{form} select[name=interval]", "300")
        page.click(f"{form} button[type=submit]")
        page.wait_for_selector(f'{row} a.schedule-name:text("loopback, 5 min")')
        assert call(f"{server.url}/api/schedules/{sid}")["interval"] == 300

        # New schedule, by tag; a bad target is refused and said so.
        page.click("[data-testid=new-schedule]")
        form = 'form[aria-label="New schedule"]'
        page.fill(f"{form} input[name=name]", "lab by tag")
        page.select_option(f"{form} select[name=mode]", "tags")
        page.fill(f"{form} input[name=agents]", "lab")
        page.fill(f"{form} input[name=param-target]", "not a host!")
        page.click(f"{form} button[type=submit]")
        page.wait_for_selector(f"{form} .msg.error")
        page.fill(f"{form} input[name=param-target]", "127.0.0.1")
        page.select_option(f"{form} select[name=interval]", "3600")
        page.click(f"{form} button[type=submit]")
        page.wait_for_selector('a.schedule-name:text("lab by tag")')
        tagged = [s for s in call(f"{server.url}/api/schedules")["items"] if s["name"] == "lab by tag"][0]
        assert (tagged["tags"], tagged["tags_match"], tagged["interval"]) == (["lab"], "all", 3600)
        assert page.text_content(f'tr[data-schedule="{tagged["schedule_id"]}"] td[data-label=Agents]') == "all of tags lab"
        shots("list")
        page.set_viewport_size(PHONE)
        assert page.evaluate(NO_SIDEWAYS)
        page.set_viewport_size(LAPTOP)

        # Delete asks first: "Keep it" keeps it, Delete deletes it.
        other = f'tr[data-schedule="{tagged["schedule_id"]}"]'
        page.click(f"{other} [data-testid=delete]")
        assert page.is_visible("dialog.confirm") and "lab by tag" in page.text_content("dialog.confirm h2")
        page.click("dialog.confirm button:text('Keep it')")
        assert not page.is_visible("dialog.confirm") and page.locator(other).count() == 1
        page.click(f"{other} [data-testid=delete]")
        page.click("[data-testid=confirm-delete]")
        page.wait_for_selector(other, state="detached")
        assert [s["schedule_id"] for s in call(f"{server.url}/api/schedules")["items"]] == [sid]
        assert errors == []
    context.close()


def a_year_of_points(server, sid, agents=("hist-a", "hist-b")):
    """Points of two agents through the series' write path: every 6 hours for 360 days,
    every 15 minutes for the last 2 days; one in 24 failed, one in 7 lost 10 %; then the
    hourly and daily rollups, as the sweeper makes them."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
    times = sorted({now - datetime.timedelta(hours=6 * n) for n in range(1, 1440)}
                   | {now - datetime.timedelta(minutes=15 * n) for n in range(1, 192)})

    async def write():
        task_id = 0
        for step, at in enumerate(times):
            for n, agent in enumerate(agents):
                task_id += 1
                failed = step % 24 == 23
                loss = 100.0 if failed else (10.0 if step % 7 == 3 else 0.0)
                await server.app.toolbox.series.record(point_of(
                    ping_task(agent, task_id, 10.0 + 15 * n + step % 5, loss=loss, outcome="failed" if failed else "ok"),
                    sid, at))
        for _ in range(400):
            if not await server.app.toolbox.series.roll():
                break

    server.run(write(), timeout=240)


def test_presets_zoom_layout_narrow_screens_and_axe(chromium, server, processes, tmp_path):
    sid = call(f"{server.url}/api/schedules", "POST", {
        "name": "a year of pings", "tool": "ping", "params": {"target": "127.0.0.1"},
        "agents": ["hist-a", "hist-b"], "interval": 900, "start_at": "2099-01-01T00:00:00Z"})["schedule_id"]
    a_year_of_points(server, sid)

    context, page = new_page(chromium, viewport=LAPTOP, color_scheme="light", bypass_csp=True)
    with evidence("schedules-ranges", page, processes):
        errors = watch_errors(page)
        shots = Shots(page, "schedule")
        page.goto(server.login_url)
        page.wait_for_selector("nav a[data-route=schedules]")
        page.goto(f"{server.url}/#/schedules/{sid}")

        def shown(preset, tier):
            page.click(f"button[data-preset=\"{preset}\"]")
            page.wait_for_selector(f"[data-testid=smoke-range][data-tier={tier}]")
            page.wait_for_function("() => document.querySelector('.smoke-card').getAttribute('aria-busy') === 'false'")
            assert page.get_attribute(f"button[data-preset=\"{preset}\"]", "aria-pressed") == "true"
            return page.locator("svg.smoke").count()

        # 3 h and 30 h: each round; two agents, one chart each.
        assert shown("3h", "raw") == 2
        assert shown("30h", "raw") == 2
        raw = page.evaluate("""() => [...document.querySelectorAll('svg.smoke')].map(s => [
            s.querySelectorAll('.dot').length, s.querySelectorAll('.fail-mark').length,
            s.querySelectorAll('.seg.loss-2').length, s.querySelectorAll('.band').length])""")
        series = call(f"{server.url}/api/schedules/{sid}/series?from="
                      + (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=30)).isoformat().replace("+00:00", "Z"))
        points = series["series"][0]["points"]
        failed = sum(p["outcome"] == "failed" for p in points)
        assert failed > 0
        # a failure is a mark on the axis, never a value: dots are the rounds that answered
        assert abs(raw[0][0] - (len(points) - failed)) <= 1 and abs(raw[0][1] - failed) <= 1, (raw, len(points), failed)
        assert raw[0][2] > 0 and raw[0][3] == raw[0][0]  # loss of 10 %: violet; a band per value
        both_schemes(page, shots, "30h")

        # 10 d: hourly rollups; 360 d: daily ones, with the p10–p90 inner smoke.
        assert shown("10d", "hour") == 2
        assert shown("360d", "day") == 2
        assert page.locator("svg.smoke .band-inner").count() > 100
        assert page.locator("svg.smoke .fail-mark").count() == 0  # a day with some failures is a value, with its loss
        both_schemes(page, shots, "360d")

        # Zoom: the buttons, then a drag across the plot.
        before = page.text_content("[data-testid=smoke-range]")
        page.click("button[data-zoom=in]")
        page.wait_for_function(f"() => document.querySelector('[data-testid=smoke-range]').textContent !== {before!r}")
        assert page.get_attribute("button[data-preset=\"360d\"]", "aria-pressed") == "false"
        page.click("button[data-zoom=earlier]")
        assert page.is_enabled("button[data-zoom=later]")
        shown("360d", "day")
        chart = page.locator("svg.smoke").first.bounding_box()
        y = chart["y"] + chart["height"] / 2
        page.mouse.move(chart["x"] + chart["width"] * 0.80, y)
        page.mouse.down()
        page.mouse.move(chart["x"] + chart["width"] * 0.85, y, steps=4)
        page.mouse.move(chart["x"] + chart["width"] * 0.90, y, steps=4)
        page.mouse.up()
        page.wait_for_selector("[data-testid=smoke-range][data-tier=\"6h\"]")  # about a month: six-hourly
        # Keyboard: - zooms out of the focused chart.
        page.focus("svg.smoke")
        page.keyboard.press("-")
        page.wait_for_function("() => document.querySelector('.smoke-card').getAttribute('aria-busy') === 'false'")

        # Overlaid: one chart with both agents and a legend of their colours.
        shown("10d", "hour")
        page.click("button[data-layout=overlay]")
        assert page.locator("svg.smoke").count() == 1
        assert page.locator(".smoke-legend .legend-swatch.agent-1").count() == 1
        assert page.locator("svg.smoke .smoke-median").count() == 2
        both_schemes(page, shots, "overlay")
        page.click("button[data-layout=multiples]")
        assert page.locator("svg.smoke").count() == 2

        # 390 px: nothing scrolls sideways; the Schedules list too.
        page.set_viewport_size(PHONE)
        assert page.evaluate(NO_SIDEWAYS)
        page.click("nav a[data-route=schedules]")
        page.wait_for_selector(f'tr[data-schedule="{sid}"]')
        assert page.evaluate(NO_SIDEWAYS)
        page.set_viewport_size(LAPTOP)

        if AXE.exists():
            problems = []
            for where in (f"#/schedules/{sid}", "#/schedules"):
                page.goto(f"{server.url}/{where}")
                page.wait_for_selector("svg.smoke" if where != "#/schedules" else f'tr[data-schedule="{sid}"]')
                for scheme in ("light", "dark"):
                    page.emulate_media(color_scheme=scheme)
                    for size in (LAPTOP, PHONE):
                        page.set_viewport_size(size)
                        page.wait_for_timeout(250)
                        problems += [(where, scheme, size["width"], v["id"], v["nodes"][:3]) for v in axe_violations(page)]
            page.emulate_media(color_scheme="light")
            page.set_viewport_size(LAPTOP)
            page.goto(f"{server.url}/#/schedules")
            page.click("[data-testid=new-schedule]")
            problems += [("new schedule form", v["id"], v["nodes"][:3]) for v in axe_violations(page)]
            assert problems == []
        assert errors == []
    context.close()


def both_schemes(page, shots, name):
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        shots(name if scheme == "light" else f"{name}-dark")
    page.emulate_media(color_scheme="light")
