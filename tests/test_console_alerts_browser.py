"""The console's Alerts and Channels pages in Chromium against a real server: a field agent's
tcp round to a closed port on 127.0.0.1 fires an alert, shown firing, acknowledged from the
page; an admin sends a channel's test message from the Channels page; axe finds nothing."""

import http.server
import os
import socket
import threading

import pytest

from tests.console_scenes import AXE
from tests.field_agent import FieldAgent
from tests.processes import ServerProcess
from tests.test_console_a11y_browser import check_page
from tests.test_console_browser import ADMIN, CHROMIUM, LAPTOP, Shots, call, evidence, new_page, watch_errors

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core is missing: tox installs it with npm (apt-get install npm)"),
    pytest.mark.timeout(300),
]


class Hook(http.server.BaseHTTPRequestHandler):
    got = 0

    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers["Content-Length"]))
        Hook.got += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_alerts_page_shows_a_firing_alert_to_acknowledge_and_channels_send_a_test(chromium, processes, tmp_path):
    server = ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "2"}, cwd=tmp_path)
    processes.append(server)
    login_url = server.wait_for_line(r"one-time link\): (http://\S+)").group(1)
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    token = call(server.url + "/api/agents", "POST", {"name": "field-1"})["token"]
    agent = FieldAgent(server.url, "field-1", token, interval=0.2).start()
    context, page = new_page(chromium, viewport=LAPTOP, color_scheme="light", bypass_csp=True)
    try:
        channel = call(server.url + "/api/channels", "POST", {
            "type": "webhook", "name": "ops hook", "url": f"http://127.0.0.1:{hook.server_port}/hook", "secret": "s3"})
        schedule = call(server.url + "/api/schedules", "POST", {
            "name": "closed port", "tool": "tcp", "params": {"target": "127.0.0.1", "port": port.getsockname()[1]},
            "agents": ["field-1"], "interval": 60, "enabled": False})
        call(f"{server.url}/api/schedules/{schedule['schedule_id']}/alerts", "POST", {
            "name": "port refused", "when": {"tcp": "refused"}, "channels": [channel["channel_id"]]})
        call(f"{server.url}/api/schedules/{schedule['schedule_id']}", "PATCH", {"enabled": True})  # a round now
        with evidence("alerts", page, processes):
            errors = watch_errors(page)
            shots, problems = Shots(page, "alerts"), []
            page.goto(login_url)
            page.wait_for_selector("nav a[data-route=alerts]")
            page.click("nav a[data-route=alerts]")
            item = page.wait_for_selector("#alerts-firing .alert-item")
            assert "port refused" in item.inner_text() and "field-1: failed" in item.inner_text()
            check_page(page, shots, "alerts-firing", problems)
            page.click("#alerts-firing button:has-text('Acknowledge')")
            page.wait_for_selector("#alerts-firing .alert-item:has-text('acknowledged by')")
            [alert] = call(server.url + "/api/alerts?state=firing")["items"]
            assert alert["acknowledged_by"]
            page.click("nav a[data-route=channels]")
            page.wait_for_selector(f"tr[data-channel='{channel['channel_id']}']")
            before = Hook.got
            page.click("button:has-text('Send a test message')")
            page.wait_for_selector("text=Test message delivered.")
            assert Hook.got == before + 1
            assert "s3" not in page.content()
            check_page(page, shots, "channels", problems)
            assert problems == [], "\n".join(map(str, problems))
            assert errors == [], errors
    finally:
        context.close()
        agent.kill()
        port.close()
        hook.shutdown()
        hook.server_close()
