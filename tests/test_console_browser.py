"""The console in a real headless Chromium, against real server and agent processes.

Scenario: a ``toolbox`` server and a ``toolbox-agent``; log in with the one-time local
link; create a second agent in the UI and start it with the token shown; run ``ping``
to 127.0.0.1 on both; the rows fill in live (no reload); the comparison table shows the
parsed loss and RTT; the history lists the job.  Then a Feishu-configured server (the
fake Feishu) where a viewer logs in with the Feishu button and finds no run form.
Screenshots of every page, at laptop and phone widths, go to ``$TOOLBOX_TEST_ARTIFACTS``
(default ``./test-artifacts``).

Playwright's sync API is used from plain test functions (no asyncio loop is running).
"""

import asyncio
import contextlib
import json
import os
import pathlib
import re
import shutil
import threading
import urllib.request

import pytest

from tests.processes import CHROMIUM, AgentProcess, ServerProcess
from toolbox.agent.cli import parse_args as parse_agent_args

ADMIN = "browser-admin-token-0123456789-abcdef"
LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
    pytest.mark.timeout(180),
]


def artifacts():
    folder = pathlib.Path(os.environ.get("TOOLBOX_TEST_ARTIFACTS") or "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def call(url, method="GET", body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())


def new_page(browser, **options):
    """A page in a fresh context; waits are generous because CI machines can be busy."""
    context = browser.new_context(**options)
    context.set_default_timeout(45000)
    return context, context.new_page()


class Shots:
    """Screenshots of one page at laptop and phone widths, light and dark."""

    def __init__(self, page, prefix):
        self.page, self.prefix, self.taken = page, prefix, []

    def __call__(self, name, phone=True):
        folder = artifacts()
        sizes = [("laptop", LAPTOP)] + ([("phone", PHONE)] if phone else [])
        for label, size in sizes:
            self.page.set_viewport_size(size)
            self.page.wait_for_timeout(400)  # the chart redraws for the new width
            path = folder / f"{self.prefix}-{name}-{label}.png"
            self.page.screenshot(path=str(path), full_page=True)
            self.taken.append(path)
        self.page.set_viewport_size(LAPTOP)


@contextlib.contextmanager
def evidence(name, page, processes):
    """On failure: a screenshot of the page and every process's output, in the artifacts."""
    try:
        yield
    except BaseException:
        folder = artifacts()
        try:
            page.screenshot(path=str(folder / f"FAILED-{name}.png"), full_page=True)
        except Exception:  # the page itself may be gone
            pass
        lines = [f"--- {' '.join(p.proc.args[1:4])}" + "\n" + "\n".join(p.lines) for p in processes]
        (folder / f"FAILED-{name}.log").write_text("\n".join(lines))
        raise


def watch_errors(page):
    """Collect script errors (a broken module shows up here).

    Chromium also logs every 4xx answer as a console error ("Failed to load resource");
    those are expected (the 401 before logging in) and left out.
    """
    errors = []

    def on_console(msg):
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            errors.append(f"console: {msg.text}")

    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    page.on("console", on_console)
    return errors


@pytest.mark.skipif(not shutil.which("ping"), reason="ping is not installed (apt-get install iputils-ping)")
def test_log_in_add_an_agent_run_ping_on_two_agents_and_watch_it_live(chromium, processes, tmp_path):
    server = ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "5"}, cwd=tmp_path)
    processes.append(server)
    login_url = server.wait_for_line(r"one-time link\): (http://\S+)").group(1)
    first = call(f"{server.url}/api/agents", "POST", {"name": "agent-1", "tags": ["site:lab"]})
    processes.append(AgentProcess(server.url, "agent-1", first["token"], cwd=tmp_path))

    context, page = new_page(chromium, viewport=LAPTOP, color_scheme="light")
    with evidence("ping-scenario", page, processes):
        errors = watch_errors(page)
        shots = Shots(page, "console")

        # Log in with the one-time link: the console opens on the agents page.
        page.goto(login_url)
        page.wait_for_selector(".who-name")
        assert page.text_content(".role") == "admin"
        page.wait_for_selector(".live-pill.live")
        page.wait_for_selector('tr[data-agent="agent-1"][data-online="true"]')
        page.evaluate("window.__noReload = 'still here'")

        # Create a second agent in the UI; its token is shown once, with the command line.
        page.fill('form[aria-label="Add an agent"] input[name=name]', "agent-2")
        page.fill('form[aria-label="Add an agent"] input[name=tags]', "site:lab role:spare")
        page.click('form[aria-label="Add an agent"] button[type=submit]')
        token = page.text_content('[data-testid="agent-token"]').strip()
        command = page.text_content('[data-testid="agent-command"]').strip()
        assert command == f"toolbox-agent --server {server.url} --name agent-2 --token={token}"
        # The command as shown parses back to this token, even one starting with "-".
        assert parse_agent_args(command.split()[1:], environ={}).token == token
        assert parse_agent_args(["--server", server.url, "--name", "x", "--token=-dash"], environ={}).token == "-dash"
        page.wait_for_selector('tr[data-agent="agent-2"][data-online="false"]')
        shots("agents-new-token")
        processes.append(AgentProcess(server.url, "agent-2", token, cwd=tmp_path))
        page.wait_for_selector('tr[data-agent="agent-2"][data-online="true"]', timeout=60000)  # live
        shots("agents")

        # Run ping on both: the form checks the target as it is typed.
        page.click('nav a[data-route="run"]')
        page.click('.tool-choice[data-tool="ping"]')
        page.fill("input[name=target]", "127.0.0.1 x")
        assert "must not contain spaces" in page.text_content("#err-target")
        assert page.is_disabled(".run-form button[type=submit]")
        page.fill("input[name=target]", "127.0.0.1")
        page.fill("input[name=count]", "99")
        assert "between 1 and 20" in page.text_content("#err-count")
        page.fill("input[name=count]", "2")
        page.fill("input[name=timeout]", "1")
        page.fill("input[name=interval]", "0.1")  # seconds between requests: iputils' floor is 0.2
        assert "between 0.2 and 10" in page.text_content("#err-interval")
        assert "(0.2–10)" in page.text_content('label:has(input[name=interval]) .field-name')
        page.fill("input[name=interval]", "0.2")
        assert page.text_content("#err-target") == "" and page.text_content("#err-count") == ""
        assert page.text_content("#err-interval") == ""
        page.click('.tab[data-mode="names"]')
        page.check('label[data-agent="agent-1"] input')
        page.check('label[data-agent="agent-2"] input')
        assert page.text_content('[data-testid="selected-count"]') == "2 agents selected"
        shots("run")
        page.click(".run-form button[type=submit]")

        # The job view fills in live, without a reload.
        page.wait_for_url("**/#/jobs/*")
        job_id = int(page.url.rsplit("/", 1)[1])
        page.wait_for_selector('table[data-testid="results"] tr[data-agent="agent-1"]')
        sent = call(f"{server.url}/api/jobs/{job_id}")
        assert sent["params"]["interval"] == 0.2 and " -i 0.2 127.0.0.1" in sent["tasks"][0]["command"]
        page.wait_for_selector('tr[data-agent="agent-1"][data-state="done"]', timeout=60000)
        page.wait_for_selector('tr[data-agent="agent-2"][data-state="done"]', timeout=60000)
        parsed_rtts = "[...document.querySelectorAll('tr[data-state=done] td[data-col=avg]')]"
        page.wait_for_function(f"{parsed_rtts}.length === 2 && {parsed_rtts}.every(td => td.textContent !== '—')")
        assert page.evaluate("window.__noReload") == "still here"
        for agent in ("agent-1", "agent-2"):
            row = f'tr[data-agent="{agent}"]'
            assert page.text_content(f"{row} td[data-col=loss]") == "0 %"
            assert page.text_content(f"{row} td[data-col=recv]") == "2/2"
            for col in ("min", "avg", "max"):  # times under 1 ms in µs, the number kept in data-value
                assert float(page.get_attribute(f"{row} td[data-col={col}]", "data-value")) >= 0
                assert re.fullmatch(r"\d+ µs|\d+\.\d+ ms|\d+ ms", page.text_content(f"{row} td[data-col={col}]"))
        page.wait_for_function("document.querySelector('[data-testid=job-summary]').textContent === '2 ok'")
        assert "2 / 2 finished" in page.text_content('[data-testid="progress-text"]')
        assert page.text_content('[data-testid="job-outcome"]') == "ok"
        for agent in ("agent-1", "agent-2"):
            assert page.get_attribute(f'tr[data-agent="{agent}"]', "data-outcome") == "ok"
            assert re.fullmatch(r"2/2 replies, avg .+ ms", page.text_content(f'tr[data-agent="{agent}"] [data-testid=row-note]'))
        assert page.locator(".chart .chart-bar").count() == 2
        page.click('tr[data-agent="agent-1"] button:has-text("Raw")')
        assert "packets transmitted" in page.text_content('[data-testid="raw-output"]')
        page.click('th button[data-key="avg"]')  # sortable
        assert page.get_attribute('th:has(button[data-key="avg"])', "aria-sort") == "ascending"
        shots("job")

        # The history lists the job and opens it.
        page.click('nav a[data-route="history"]')
        page.wait_for_selector(f'tr[data-job="{job_id}"]')
        shots("history")
        page.click('.tabs button:has-text("Tasks")')
        page.wait_for_selector("table[data-testid=tasks] tr[data-task]")
        page.click('.tabs button:has-text("Jobs")')
        page.click(f'tr[data-job="{job_id}"] a')
        page.wait_for_selector('tr[data-agent="agent-2"][data-state="done"]')

        # Admin: users, own API tokens, the audit log (which recorded the job).
        page.click('nav a[data-route="admin"]')
        page.wait_for_selector('section[aria-label="Audit log"] tbody tr')
        assert "job.create" in page.text_content('section[aria-label="Audit log"]')
        page.fill('section[aria-label="API tokens"] input[name=name]', "ci script")
        page.click('section[aria-label="API tokens"] button[type=submit]')
        page.wait_for_selector('section[aria-label="API tokens"] .token-card code')
        page.wait_for_selector('section[aria-label="Audit log"] td:has-text("token.create")')
        shots("admin")

        page.emulate_media(color_scheme="dark")
        page.click('nav a[data-route="agents"]')
        page.wait_for_selector('tr[data-agent="agent-2"]')
        shots("agents-dark")
        assert errors == [], errors
    context.close()


def test_a_lost_live_feed_is_announced_and_resumed_with_since(chromium, processes, tmp_path):
    server = ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "5"}, cwd=tmp_path)
    processes.append(server)
    login_url = server.wait_for_line(r"one-time link\): (http://\S+)").group(1)
    agent = call(f"{server.url}/api/agents", "POST", {"name": "late-agent"})
    context, page = new_page(chromium, viewport=LAPTOP)
    with evidence("reconnect", page, processes):
        errors = watch_errors(page)
        sockets = []  # every websocket the page opened: (url, route)
        state = {"blocked": False}

        def route(ws):
            sockets.append(ws.url)
            if state["blocked"]:
                ws.close()  # the server is "away": the console must keep retrying
            else:
                ws.connect_to_server()
                state["current"] = ws

        page.route_web_socket("**/api/ws*", route)
        page.goto(login_url)
        page.wait_for_selector(".live-pill.live")
        page.wait_for_selector('tr[data-agent="late-agent"][data-online="false"]')
        page.evaluate("window.__noReload = 'still here'")
        assert "since=" not in sockets[0]

        state["blocked"] = True
        state["current"].close()
        page.wait_for_selector(".banner .msg.warn:has-text('Live updates lost')")
        assert page.text_content(".live-pill") == "offline"
        processes.append(AgentProcess(server.url, "late-agent", agent["token"], cwd=tmp_path))
        for _ in range(300):  # the agent comes online while the console is cut off
            if call(f"{server.url}/api/agents/late-agent")["online"]:
                break
            page.wait_for_timeout(100)
        Shots(page, "reconnect")("lost", phone=False)
        state["blocked"] = False
        page.wait_for_selector(".banner .msg.ok:has-text('Reconnected')", timeout=60000)
        page.wait_for_selector('tr[data-agent="late-agent"][data-online="true"]')
        assert page.text_content(".live-pill") == "live"
        resumed = sockets[-1]
        assert re.search(r"[?&]since=[0-9]+", resumed), resumed
        assert page.evaluate("window.__noReload") == "still here"
        assert errors == [], errors
    context.close()


class FakeFeishuThread:
    """The fake Feishu served from a thread with its own event loop."""

    def __init__(self):
        from tornado.httpserver import HTTPServer
        from tornado.netutil import bind_sockets

        from tests.fake_feishu import make_fake_feishu

        self.app, self.state = make_fake_feishu("cli_browser", "browser-secret")
        self.loop = asyncio.new_event_loop()
        self.sockets = bind_sockets(0, "127.0.0.1")
        self.url = f"http://127.0.0.1:{self.sockets[0].getsockname()[1]}"
        self._server_class = HTTPServer
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self._ready.wait(10)

    def _run(self):
        asyncio.set_event_loop(self.loop)

        async def serve():
            self.server = self._server_class(self.app)
            self.server.add_sockets(self.sockets)
            self._stop = asyncio.Event()
            self._ready.set()
            await self._stop.wait()
            self.server.stop()
            await self.server.close_all_connections()

        self.loop.run_until_complete(serve())
        self.loop.close()

    def stop(self):
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(10)


def test_a_viewer_logs_in_with_feishu_and_sees_no_run_form(chromium, processes, tmp_path):
    feishu = FakeFeishuThread()
    try:
        server = ServerProcess(env={
            "TOOLBOX_ADMIN_TOKEN": ADMIN, "FEISHU_APP_ID": "cli_browser", "FEISHU_APP_SECRET": "browser-secret",
            "FEISHU_ACCOUNTS_URL": feishu.url, "FEISHU_OPEN_URL": feishu.url,
            "TOOLBOX_DEFAULT_ROLE": "viewer"}, cwd=tmp_path)
        processes.append(server)
        feishu.state.redirect_uris.add(f"{server.url}/auth/feishu/callback")
        context, page = new_page(chromium, viewport=LAPTOP)
        with evidence("viewer", page, processes):
            errors = watch_errors(page)
            shots = Shots(page, "viewer")

            page.goto(server.url + "/")
            page.wait_for_selector("a.button:has-text('Log in with Feishu')")
            shots("login")
            page.click("a.button:has-text('Log in with Feishu')")
            page.wait_for_selector(".who-name")
            assert page.text_content(".who-name") == "Alice"
            assert page.text_content(".role") == "viewer"
            page.goto(server.url + "/#/run")
            page.wait_for_selector("text=Running tools needs the operator role.")
            assert page.locator("form.run-form").count() == 0
            shots("run")
            page.goto(server.url + "/#/admin")  # a viewer manages only their own tokens
            page.wait_for_selector('section[aria-label="API tokens"]')
            assert page.locator('section[aria-label="Users"]').count() == 0
            page.click("button:has-text('Log out')")
            page.wait_for_selector("a.button:has-text('Log in with Feishu')")
            assert errors == [], errors
        context.close()
    finally:
        feishu.stop()
