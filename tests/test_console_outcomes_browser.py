"""The console shows outcomes (issue 8), in a real headless Chromium against real
``toolbox`` and ``toolbox-agent`` processes on 127.0.0.1.

- An agent killed (SIGKILL) mid-ping: a job queued behind it marks its row "agent
  offline" with the time as soon as ``agent.offline`` arrives; the job it was running
  marks the row lost ("agent went offline at HH:MM:SS"), the header says "1 ok · 1 agent
  went offline", the chart draws a bar for the agent that answered only, and History
  shows the job as partial.
- Failed curl jobs (a closed port, a 404 from a local server) next to a good one: rows
  and History say "failed" with the server's summary; no failed timing is drawn in the
  chart or shown as a comparison number (a refused connection's 0.17 ms stays out).
- What the events alone reach only rarely (a task still running when its job ended, a
  result after the job ended) is read by the page's own module; every badge and note
  keeps a contrast of at least 4.5:1, light and dark; the Agents page says what Disable
  does, and a real toolbox-agent pauses when disabled from the console.

Any script error on a page fails the test.  Screenshots go to ``$TOOLBOX_TEST_ARTIFACTS``.
"""

import datetime
import os
import re
import shutil

import pytest

from tests.field_servers import closed_port, http_server
from tests.processes import AgentProcess, ServerProcess, wait_until
from tests.test_console_browser import (ADMIN, CHROMIUM, LAPTOP, Shots, call,
                                        evidence, new_page, watch_errors)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
    pytest.mark.timeout(240),
]

CLOCK = r"(\d{2}:\d{2}:\d{2})"

# Contrast of every text on a badge, note or chart label against what is behind it.
CONTRAST_JS = """(selector) => {
  const parse = (text) => {
    const parts = (text.match(/rgba?\\(([^)]+)\\)/) || [null, "0 0 0 0"])[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return { r: parts[0], g: parts[1], b: parts[2], a: parts.length > 3 ? parts[3] : 1 };
  };
  const lum = ({ r, g, b }) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const behind = (node) => {
    if (node instanceof SVGElement) {  // chart text sits on its row's track
      const track = node.closest("g") && node.closest("g").querySelector(".chart-track");
      if (track) return parse(getComputedStyle(track).fill);
    }
    for (let n = node; n; n = n.parentElement) {
      const colour = parse(getComputedStyle(n).backgroundColor);
      if (colour.a > 0.99) return colour;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  return [...document.querySelectorAll(selector)].filter((n) => n.textContent.trim()).map((node) => {
    const style = getComputedStyle(node);
    const fg = parse(node instanceof SVGElement ? style.fill : style.color);
    const [hi, lo] = [lum(fg), lum(behind(node))].sort((x, y) => y - x);
    return { text: node.textContent.trim().slice(0, 40), ratio: (hi + 0.05) / (lo + 0.05) };
  });
}"""
TEXTS = ".badge, .row-note, [data-testid=job-summary], .progress-text, .chart-note, .help-text"


def low_contrast(page):
    """Texts on this page under 4.5:1, in the current colour scheme."""
    return [item for item in page.evaluate(CONTRAST_JS, TEXTS) if item["ratio"] < 4.5]


def both_schemes(page, shots, name):
    """Screenshots and a contrast check, light then dark (then back to light)."""
    problems = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.wait_for_timeout(200)
        problems += [(scheme, item) for item in low_contrast(page)]
        shots(name if scheme == "light" else f"{name}-dark")
    page.emulate_media(color_scheme="light")
    assert problems == [], problems


def utc_seconds(text):
    hours, minutes, seconds = map(int, text.split(":"))
    return hours * 3600 + minutes * 60 + seconds


def start_agents(server, names, tmp_path, processes):
    agents = {}
    for name in names:
        token = call(f"{server.url}/api/agents", "POST", {"name": name})["token"]
        agents[name] = AgentProcess(server.url, name, token, cwd=tmp_path)
        processes.append(agents[name])
    for name in names:
        assert wait_until(lambda: call(f"{server.url}/api/agents/{name}")["online"], 60), f"{name} never came online"
    return agents


def note(page, agent):
    return page.text_content(f'tr[data-agent="{agent}"] [data-testid=row-note]')


def wait_for_text(page, selector, pattern, timeout=60000):
    """Wait until the element's text matches ``pattern`` (a regular expression)."""
    page.wait_for_function("([selector, pattern]) => { const n = document.querySelector(selector); "
                           "return Boolean(n) && new RegExp(pattern).test(n.textContent); }",
                           arg=[selector, pattern], timeout=timeout)
    return re.search(pattern, page.text_content(selector))


@pytest.mark.skipif(not shutil.which("ping"), reason="ping is not installed (apt-get install iputils-ping)")
def test_an_agent_killed_mid_job_is_marked_offline_with_the_time_then_lost(chromium, processes, tmp_path):
    server = ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "5"}, cwd=tmp_path)
    processes.append(server)
    login_url = server.wait_for_line(r"one-time link\): (http://\S+)").group(1)
    agents = start_agents(server, ["steady", "doomed"], tmp_path, processes)

    context, page = new_page(chromium, viewport=LAPTOP, color_scheme="light", timezone_id="UTC")
    with evidence("outcomes-offline", page, processes):
        errors = watch_errors(page)
        page.goto(login_url)
        page.wait_for_selector(".live-pill.live")
        ping = {"tool": "ping", "params": {"target": "127.0.0.1", "count": 20, "timeout": 1}}
        running = call(f"{server.url}/api/jobs", "POST", {**ping, "agents": ["steady", "doomed"]})["job_id"]
        page.goto(f"{server.url}/#/jobs/{running}")
        page.wait_for_selector('tr[data-agent="doomed"][data-outcome="dispatched"]')
        assert "running on the agent" in note(page, "doomed")

        # A second job waits behind the first on "doomed" (one task at a time per agent).
        queued = call(f"{server.url}/api/jobs", "POST", {**ping, "params": {**ping["params"], "count": 1},
                                                          "agents": ["doomed"]})["job_id"]
        waiting = context.new_page()
        waiting_errors = watch_errors(waiting)
        waiting.goto(f"{server.url}/#/jobs/{queued}")
        waiting.wait_for_selector('tr[data-agent="doomed"][data-outcome="queued"]')
        waiting.wait_for_selector(".live-pill.live")

        agents["doomed"].proc.kill()  # SIGKILL: no goodbye, its fetch just stops
        killed_at = datetime.datetime.now(datetime.timezone.utc)

        # As soon as the server knows, the queued row says so, with the time.
        waiting.wait_for_selector('tr[data-agent="doomed"][data-outcome="offline"]', timeout=60000)
        said = re.fullmatch(f"agent went offline at {CLOCK}; the task waits for it", note(waiting, "doomed"))
        assert said, note(waiting, "doomed")
        offline_at = utc_seconds(said.group(1))
        since_kill = (offline_at - utc_seconds(killed_at.strftime("%H:%M:%S"))) % 86400
        assert 0 <= since_kill <= 40, (said.group(1), killed_at)
        assert waiting.text_content('[data-testid="job-outcome"]') == "running"
        Shots(waiting, "outcomes")("offline-queued", phone=False)

        # The job it was running: the row is lost, saying when the agent went offline.
        page.wait_for_selector('tr[data-agent="doomed"][data-outcome="lost"]', timeout=60000)
        assert note(page, "doomed") == f"agent went offline at {said.group(1)}"
        assert page.get_attribute('tr[data-agent="doomed"]', "data-state") == "lost"
        assert page.text_content('tr[data-agent="doomed"] td[data-col=avg]') == "—"
        wait_for_text(page, "[data-testid=job-summary]", "^1 ok · 1 agent went offline$", timeout=90000)
        page.wait_for_selector('[data-testid="job-outcome"] [data-outcome="partial"]')
        assert re.fullmatch(r"20/20 replies, avg .+ ms", note(page, "steady"))
        assert page.locator(".chart .chart-bar").count() == 1  # the agent that answered
        lost_bar = page.locator('.chart .chart-row[data-label="doomed"]')
        assert lost_bar.get_attribute("data-value") == "none"
        assert lost_bar.locator(".chart-bar").count() == 0
        assert lost_bar.text_content().startswith("doomedlost: agent went offline at")
        shots = Shots(page, "outcomes")
        both_schemes(page, shots, "lost-job")

        # History: the job reads partial, with the server's summary.
        page.click('nav a[data-route="history"]')
        row = f'table[data-testid=jobs] tr[data-job="{running}"]'
        page.wait_for_selector(f'{row}[data-outcome="partial"]')
        assert page.text_content(f"{row} [data-testid=job-summary]") == "1 ok · 1 agent went offline"
        page.click('.tabs button:has-text("Tasks")')
        page.wait_for_selector('table[data-testid=tasks] tr[data-outcome="lost"]')
        assert page.text_content('table[data-testid=tasks] tr[data-outcome="lost"] [data-testid=row-note]') \
            == f"agent went offline at {said.group(1)}"
        both_schemes(page, shots, "lost-history")

        # The waiting job, canceled from the console: its row is closed, the job ended.
        waiting.click("button:has-text('Cancel queued tasks')")
        waiting.wait_for_selector('tr[data-agent="doomed"][data-outcome="canceled"]')
        wait_for_text(waiting, "[data-testid=job-summary]", "^1 canceled$")
        assert waiting.locator('[data-testid="job-outcome"] [data-outcome="canceled"]').count() == 1
        assert waiting.locator('tr[data-outcome="dispatched"], tr[data-outcome="queued"]').count() == 0
        assert errors == [] and waiting_errors == [], errors + waiting_errors
    context.close()


def test_failed_jobs_read_failed_in_the_job_view_and_history_and_are_never_charted(chromium, processes, tmp_path):
    server = ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "5"}, cwd=tmp_path)
    processes.append(server)
    login_url = server.wait_for_line(r"one-time link\): (http://\S+)").group(1)
    start_agents(server, ["agent-a", "agent-b"], tmp_path, processes)
    both = ["agent-a", "agent-b"]

    context, page = new_page(chromium, viewport=LAPTOP, color_scheme="light")
    with evidence("outcomes-failed", page, processes), http_server() as web, closed_port() as closed:
        errors = watch_errors(page)
        shots = Shots(page, "outcomes")
        page.goto(login_url)
        page.wait_for_selector(".live-pill.live")

        def curl_job(url):
            job = call(f"{server.url}/api/jobs", "POST", {"tool": "curl", "params": {"url": url, "timeout": 5}, "agents": both})
            assert wait_until(lambda: call(f"{server.url}/api/jobs/{job['job_id']}")["finished_at"], 60)
            return job["job_id"]

        good = curl_job(f"http://127.0.0.1:{web}/")
        missing = curl_job(f"http://127.0.0.1:{web}/missing")

        # The refused one is started in the Run form and watched live (events only).
        page.click('nav a[data-route="run"]')
        page.click('.tool-choice[data-tool="curl"]')
        page.fill("input[name=url]", f"http://127.0.0.1:{closed}/")
        page.fill("input[name=timeout]", "5")
        page.click('.tab[data-mode="names"]')
        for name in both:
            page.check(f'label[data-agent="{name}"] input')
        page.click(".run-form button[type=submit]")
        page.wait_for_url("**/#/jobs/*")
        refused = int(page.url.rsplit("/", 1)[1])
        for name in both:
            page.wait_for_selector(f'tr[data-agent="{name}"][data-outcome="failed"]', timeout=60000)
            assert re.fullmatch(rf"(connection refused|could not connect to 127\.0\.0\.1 port {closed})", note(page, name))
            for col in ("http", "dns", "connect", "ttfb", "total"):  # the parsed 0.17 ms stays out
                assert page.text_content(f'tr[data-agent="{name}"] td[data-col={col}]') == "—", col
        wait_for_text(page, "[data-testid=job-summary]", "^2 failed$")
        page.wait_for_selector('[data-testid="job-outcome"] [data-outcome="failed"]')
        assert page.locator(".chart .chart-bar").count() == 0
        assert "Nothing to chart" in page.text_content("[data-testid=chart-empty]")
        page.click('tr[data-agent="agent-a"] button:has-text("Raw")')  # the event's preview
        assert "exit=7" in page.text_content('[data-testid="raw-output"]')
        both_schemes(page, shots, "refused-job")

        # A 404 is a failure too, but a complete HTTP exchange: its timings are shown and charted.
        page.goto(f"{server.url}/#/jobs/{missing}")
        page.wait_for_selector('tr[data-agent="agent-a"][data-outcome="failed"]')
        assert re.fullmatch(r"HTTP 404 in .+ ms", note(page, "agent-a"))
        assert page.text_content('tr[data-agent="agent-a"] td[data-col=http]') == "404"
        assert page.text_content('tr[data-agent="agent-a"] td[data-col=total]').endswith(" ms")
        assert page.locator(".chart .chart-bar").count() == 2

        # The good one is charted: a bar per agent.
        page.goto(f"{server.url}/#/jobs/{good}")
        page.wait_for_selector('tr[data-agent="agent-b"][data-outcome="ok"]')
        wait_for_text(page, "[data-testid=job-summary]", "^2 ok$")
        assert page.locator(".chart .chart-bar").count() == 2
        assert page.text_content('tr[data-agent="agent-b"] td[data-col=http]') == "200"

        # History tells the three apart.
        page.click('nav a[data-route="history"]')
        for job_id, outcome, summary in ((good, "ok", "2 ok"), (missing, "failed", "2 failed"), (refused, "failed", "2 failed")):
            row = f'table[data-testid=jobs] tr[data-job="{job_id}"]'
            page.wait_for_selector(f'{row}[data-outcome="{outcome}"]')
            assert page.text_content(f"{row} [data-testid=job-summary]") == summary
            assert page.text_content(f"{row} .badge") == outcome
        both_schemes(page, shots, "failed-history")
        page.click('.tabs button:has-text("Tasks")')
        page.wait_for_selector('table[data-testid=tasks] tr[data-outcome="failed"]')
        assert page.locator('table[data-testid=tasks] tr[data-outcome="failed"]').count() == 4
        assert page.locator('table[data-testid=tasks] tr[data-outcome="ok"]').count() == 2
        assert errors == [], errors
    context.close()


def test_rows_close_when_the_job_ends_badges_are_readable_and_disable_is_explained(chromium, processes, tmp_path):
    server = ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "5"}, cwd=tmp_path)
    processes.append(server)
    login_url = server.wait_for_line(r"one-time link\): (http://\S+)").group(1)
    agent = start_agents(server, ["pausing"], tmp_path, processes)["pausing"]

    context, page = new_page(chromium, viewport=LAPTOP, color_scheme="light", timezone_id="UTC")
    with evidence("outcomes-rules", page, processes):
        errors = watch_errors(page)
        page.goto(login_url)
        page.wait_for_selector('tr[data-agent="pausing"][data-online="true"]')

        # The page's own module: what a row says in the cases a test cannot time.
        said = page.evaluate("""async () => {
          const m = await import("/static/js/outcome.js");
          const ended = { jobEnded: true, jobFinishedAt: "2026-01-02T14:03:00Z" };
          const row = (task, opts) => { const s = m.taskStatus(task, opts); return `${s.key}: ${s.note}`; };
          return [
            row({ state: "dispatched", time_limit: 22 }, {}),
            row({ state: "dispatched" }, ended),
            row({ state: "queued" }, { ...ended, offline: { at: Date.parse("2026-01-02T14:02:07Z"), now: true } }),
            row({ state: "done", outcome: "ok", summary: "4/4 replies, avg 28.1 ms", finished_at: "2026-01-02T14:03:05Z" }, ended),
            row({ state: "lost", reason: "timeout", summary: "no result within 40 s" }, {}),
            row({ state: "lost", reason: "agent_offline", finished_at: "2026-01-02T14:03:08Z" }, {}),
            row({ state: "delivery_timeout", summary: "not fetched by its agent within 300 s" }, {}),
          ];
        }""")
        assert said == [
            "dispatched: running on the agent (at most 22 s)",
            "unfinished: unfinished when the job ended",
            "unfinished: unfinished when the job ended · agent went offline at 14:02:07",
            "ok: 4/4 replies, avg 28.1 ms · arrived after the job ended",
            "lost: no result within 40 s",
            "lost: agent went offline at 14:03:08",
            "delivery_timeout: not fetched by its agent within 300 s",
        ]

        # Every badge the console draws, in words and readable in both schemes.
        page.evaluate("""async () => {
          const m = await import("/static/js/outcome.js");
          const keys = ["ok", "partial", "failed", "lost", "delivery_timeout", "canceled", "done", "queued",
                        "dispatched", "offline", "unfinished", "running"];
          const box = document.createElement("div");
          box.className = "card";
          box.dataset.testid = "all-badges";
          for (const key of keys) box.append(m.outcomeBadge(key), " ");
          document.querySelector("main").prepend(box);
        }""")
        words = page.locator("[data-testid=all-badges] .badge").all_text_contents()
        assert words == ["ok", "partial", "failed", "lost", "not fetched", "canceled", "done", "waiting",
                         "running", "agent offline", "unfinished", "running"]
        shots = Shots(page, "outcomes")
        both_schemes(page, shots, "badges")

        # A long output: events and lists may carry a 4 KiB preview; the rest is fetched.
        big = call(f"{server.url}/api/tasks", "POST", {"agents": ["pausing"], "command": "seq 1 2000"})["items"][0]
        assert wait_until(lambda: call(f"{server.url}/api/tasks/{big['task_id']}")["state"] == "done", 60)
        whole = page.evaluate("""async (id) => {
          const raw = await import("/static/js/raw.js");
          const task = { task_id: id, result_preview: "1\\n2\\n", result_bytes: 8893 };
          const before = raw.rawOutput(task);
          task.result = await raw.fetchWholeResult(id);
          return [before.complete, raw.loadingNote({ ...task, result: undefined }), raw.rawOutput(task)];
        }""", big["task_id"])
        assert whole[0] is False and whole[1] == "Showing the first 4 B of 8.7 KiB; loading the rest…"
        assert whole[2] == {"text": "".join(f"{n}\n" for n in range(1, 2001)), "complete": True}
        page.reload()
        page.click('nav a[data-route="history"]')
        page.click('.tabs button:has-text("Tasks")')
        row = f'table[data-testid=tasks] tr[data-task="{big["task_id"]}"]'
        page.wait_for_selector(f'{row}[data-outcome="ok"]')
        page.click(f'{row} button:has-text("Raw")')
        page.wait_for_function("(row) => document.querySelector(row).nextElementSibling.querySelector('pre').textContent.endsWith('1999\\n2000\\n')",
                               arg=row)
        page.click('nav a[data-route="agents"]')

        # Agents: what Disable does is said where the button is, and it does that.
        page.wait_for_selector('tr[data-agent="pausing"][data-online="true"]')
        help_text = page.text_content("[data-testid=disable-help]")
        assert "Disabled agents get no new tasks; toolbox-agent pauses and asks again every 30 s, and resumes " \
               "when enabled; the field agent keeps polling and is refused." in help_text
        page.click('tr[data-agent="pausing"] button[aria-haspopup=menu]')  # the row's actions menu
        button = page.locator('tr[data-agent="pausing"] [role=menuitem]:has-text("Disable")')
        assert "toolbox-agent pauses" in button.get_attribute("title")
        assert button.get_attribute("aria-describedby") == "disable-help"
        dialogs = []

        def answer(dialog):
            dialogs.append(dialog.message)
            dialog.accept()

        page.on("dialog", answer)
        button.click()
        page.wait_for_selector(".notice .msg.ok:has-text('toolbox-agent pauses')")
        assert dialogs and dialogs[0].startswith("Disable agent pausing?") and "the field agent keeps polling" in dialogs[0]
        page.wait_for_selector('tr[data-agent="pausing"] .status-text:has-text("disabled")')
        agent.wait_for_line(r"disabled on the server; asking again every 30 s", timeout=60)
        assert agent.proc.poll() is None  # paused, not gone
        both_schemes(page, shots, "agents-disabled")
        page.click('tr[data-agent="pausing"] button[aria-haspopup=menu]')
        page.click('tr[data-agent="pausing"] [role=menuitem]:has-text("Enable")')
        page.wait_for_selector(".notice .msg.ok:has-text('resumes within 30 s')")
        assert len(dialogs) == 1  # enabling asks nothing
        assert errors == [], errors
    context.close()
