"""The schedule's alert rule editor and its alerts on the graph (issue 20, item 4), in
Debian's Chromium against a real toolbox server (in a thread of the test,
``tests/server_thread.py``, so that three hours of a tcp schedule's points are written
through the series' one write path) and an emulated field agent whose tcp round to a
closed port on 127.0.0.1 really fails.

- The editor is reached from the schedule's page (#/schedules/ID/alerts). A rule is made
  through the form: checked as typed with the server's bounds (K above M is said next to
  the field and nothing is sent); a refusal of the server (a channel deleted meanwhile) is
  said next to its field; Preview replays the stored points and says what the API's
  preview says, and changes with the settings; Create saves what the form shows.
- Edit changes it (and silences it for an hour); the schedule resumed, its round fires the rule, and the firing period
  is shaded on the open graph live; the rule's row says firing; the port open again, the
  next round clears it and the period ends on the graph, live too.
- Delete asks first ("Keep it" keeps it); the alert stays in the history.
- On a MongoDB suite (``TOOLBOX_TEST_MONGODB_URI``) the server runs on that database.
- A viewer, and an operator who does not own the schedule, read its rules with no New,
  Edit or Delete.
- A DNS rule's expected set is typed in the editor, refused empty, previewed on stored dig
  points and held by the edit form.
- axe-core finds nothing on the editor (list, form with a preview) nor on the graph with an
  alert shaded, light or dark, 1280 and 390 px.
"""

import datetime
import http.server
import os
import re
import socket
import threading
import uuid

import pytest

from tests.console_scenes import AXE, dig_output
from tests.field_agent import FieldAgent
from tests.processes import wait_until
from tests.server_thread import ServerThread
from tests.test_console_a11y_browser import check_page
from tests.test_console_browser import ADMIN, CHROMIUM, LAPTOP, PHONE, Shots, call, evidence, new_page, watch_errors
from toolbox.people import sessions
from toolbox.people.feishu import FeishuProfile
from toolbox.tools.parsers import parse_result
from toolbox.watch.points import point_of

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core is missing: tox installs it with npm (apt-get install npm)"),
    pytest.mark.timeout(300),
]

REFUSED = set(range(5, 10)) | {20}  # the rounds (of 36, 5 min apart) whose port was refused


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    shared = os.environ.get("TOOLBOX_TEST_MONGODB_URI")  # on a MongoDB suite, the server is on it too
    started = ServerThread(ADMIN, **({"mongodb_uri": f"{shared.rstrip('/')}/toolbox_rules_{uuid.uuid4().hex[:10]}"}
                                     if shared else {}))
    yield started
    if shared:
        started.run(started.app.toolbox.db.drop())
    started.stop()
    started.app.toolbox.db.close()


def three_hours_of_tcp(server, sid, agent):
    """A tcp point every 5 minutes for the last 3 hours, refused in the ``REFUSED`` rounds."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)

    async def write():
        for step in range(36):
            refused = step in REFUSED
            task = {"agent": agent, "task_id": 10_000 + step, "job_id": None, "tool": "tcp", "state": "done",
                    "outcome": "failed" if refused else "ok",
                    "parsed": {"kind": "tcp", "open": not refused, "connect_ms": None if refused else 0.2}}
            await server.app.toolbox.series.record(point_of(task, sid, now - datetime.timedelta(minutes=5 * (35 - step) + 2)))

    server.run(write())


def preview(server, sid, body):
    return call(f"{server.url}/api/schedules/{sid}/alerts/preview?hours=3", "POST", body)


def test_make_preview_edit_and_delete_a_rule_and_see_its_alert_on_the_graph(chromium, server, processes, tmp_path):
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: a connection is refused
    token = call(f"{server.url}/api/agents", "POST", {"name": "field-1"})["token"]
    agent = FieldAgent(server.url, "field-1", token, interval=0.2).start()
    url = f"http://127.0.0.1:{hook.server_port}/hook"
    ops = call(f"{server.url}/api/channels", "POST", {"type": "webhook", "name": "ops hook", "url": url})
    gone = call(f"{server.url}/api/channels", "POST", {"type": "webhook", "name": "old hook", "url": url})
    sid = call(f"{server.url}/api/schedules", "POST", {
        "name": "closed port", "tool": "tcp", "params": {"target": "127.0.0.1", "port": closed.getsockname()[1]},
        "agents": ["field-1"], "interval": 3600, "enabled": False})["schedule_id"]
    three_hours_of_tcp(server, sid, "field-1")
    rules_url = f"{server.url}/api/schedules/{sid}/alerts"

    context, page = new_page(chromium, viewport=LAPTOP, color_scheme="light", bypass_csp=True)
    try:
        with evidence("rules", page, processes):
            errors = watch_errors(page)
            shots, problems = Shots(page, "rules"), []
            page.goto(server.login_url)
            page.wait_for_selector("nav a[data-route=schedules]")
            page.goto(f"{server.url}/#/schedules/{sid}")
            page.click("[data-testid=alert-rules]")
            page.wait_for_url(re.compile(rf"#/schedules/{sid}/alerts$"))
            page.wait_for_selector("#rule-list :text('No alert rule on this schedule yet.')")
            assert page.get_attribute("nav a[data-route=schedules]", "aria-current") == "page"

            # New rule: K above M is said as typed, and a submit sends nothing.
            page.click("[data-testid=new-rule]")
            form = 'form[aria-label="New alert rule"]'
            assert page.evaluate("document.activeElement.name") == "name"
            page.fill(f"{form} input[name=name]", "port refused")
            page.select_option(f"{form} select[name=kind]", "tcp")
            assert page.is_hidden(f"{form} [data-field=value]")
            page.fill(f"{form} input[name=rounds]", "3")
            page.fill(f"{form} input[name=of_rounds]", "2")
            assert page.text_content(f"{form} #rule-err-rounds") == "at most of_rounds (K of the last M rounds)"
            assert page.get_attribute(f"{form} input[name=rounds]", "aria-invalid") == "true"
            page.fill(f"{form} input[name=of_rounds]", "1000")
            assert page.text_content(f"{form} #rule-err-of_rounds") == "a whole number from 1 to 100"
            page.click(f"{form} button[type=submit]")
            page.wait_for_selector(f"{form} .msg.error")
            assert call(rules_url)["items"] == []
            page.fill(f"{form} input[name=rounds]", "1")
            page.fill(f"{form} input[name=of_rounds]", "1")
            assert page.text_content(f"{form} #rule-err-rounds") == ""

            # Preview: what the API's preview says, in words and on the strip.
            body = {"when": {"tcp": "refused"}, "rounds": 1, "of_rounds": 1}
            expected = preview(server, sid, body)
            assert (expected["rounds"], expected["fired"], expected["cleared"]) == (36, 2, 2), expected
            page.click(f"{form} [data-testid=preview]")
            result = page.wait_for_selector(f"{form} [data-testid=preview-result]")
            assert "the last 3 hours" not in result.inner_text()  # 24 h is the default
            page.select_option(f"{form} select[name=hours]", "3")
            page.click(f"{form} [data-testid=preview]")
            page.wait_for_selector(f"{form} [data-testid=preview-result]:has-text('the last 3 hours')")
            text = page.text_content(f"{form} [data-testid=preview-result] .preview-text")
            assert text == "With these settings the last 3 hours (36 rounds) would have fired twice and cleared twice.", text
            assert page.locator(f"{form} .preview-firing").count() == 2
            assert page.locator(f"{form} .preview-periods li").count() == 2
            # 2 of the last 3 rounds: the lone refused round no longer fires it.
            page.fill(f"{form} input[name=rounds]", "2")
            page.fill(f"{form} input[name=of_rounds]", "3")
            page.fill(f"{form} input[name=clear_after]", "2")
            assert preview(server, sid, dict(body, rounds=2, of_rounds=3, clear_after=2))["fired"] == 1
            page.click(f"{form} [data-testid=preview]")
            page.wait_for_selector(f"{form} .preview-text:has-text('would have fired once and cleared once')")
            assert page.locator(f"{form} .preview-firing").count() == 1
            check_page(page, shots, "rule-form", problems)
            page.set_viewport_size(PHONE)
            assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")  # nothing scrolls sideways
            page.set_viewport_size(LAPTOP)

            # A channel deleted meanwhile: the server's refusal is said next to the channels.
            page.check(f"{form} input[name=channel][value='{ops['channel_id']}']")
            page.check(f"{form} input[name=channel][value='{gone['channel_id']}']")
            call(f"{server.url}/api/channels/{gone['channel_id']}", "DELETE")
            page.click(f"{form} button[type=submit]")
            page.wait_for_function("() => document.querySelector('#rule-err-channels').textContent !== ''")
            assert page.text_content(f"{form} #rule-err-channels") == f"no such channel: {gone['channel_id']}"
            assert call(rules_url)["items"] == []
            page.uncheck(f"{form} input[name=channel][value='{gone['channel_id']}']")
            page.click(f"{form} button[type=submit]")
            page.wait_for_selector("#rule-list tr[data-rule]")
            [rule] = call(rules_url)["items"]
            assert (rule["name"], rule["when"], rule["min_agents"], rule["min_pct"], rule["rounds"], rule["of_rounds"],
                    rule["clear_after"], rule["channels"], rule["enabled"]) == \
                ("port refused", {"tcp": "refused"}, 1, None, 2, 3, 2, [ops["channel_id"]], True)
            row = f"tr[data-rule='{rule['rule_id']}']"
            assert "2 of 3 rounds" in page.text_content(f"{row} td[data-label='Fires on']")
            assert page.text_content(f"{row} td[data-label=Channels]") == "ops hook"
            assert page.evaluate("document.activeElement.dataset.testid") == "edit"
            check_page(page, shots, "rules", problems)

            # Edit: the form holds the rule; at once on half the agents, with a reminder.
            page.click(f"{row} [data-testid=edit]")
            form = 'form[aria-label="Edit the rule “port refused”"]'
            assert page.input_value(f"{form} input[name=of_rounds]") == "3"
            assert page.is_checked(f"{form} input[name=channel][value='{ops['channel_id']}']")
            page.fill(f"{form} input[name=name]", "port refused at once")
            page.select_option(f"{form} select[name=who]", "pct")
            page.fill(f"{form} input[name=min_pct]", "150")
            assert page.text_content(f"{form} #rule-err-min_pct") == "a percentage above 0, at most 100"
            page.fill(f"{form} input[name=min_pct]", "50")
            page.fill(f"{form} input[name=rounds]", "1")
            page.fill(f"{form} input[name=of_rounds]", "1")
            page.fill(f"{form} input[name=clear_after]", "1")
            page.fill(f"{form} input[name=remind_every]", "30")
            page.select_option(f"{form} select[name=silence]", "1")
            page.click(f"{form} button[type=submit]")
            page.wait_for_selector(f"{row} strong:text('port refused at once')")
            changed = call(f"{rules_url}/{rule['rule_id']}")
            assert (changed["min_pct"], changed["rounds"], changed["of_rounds"], changed["clear_after"],
                    changed["remind_every"]) == (50, 1, 1, 1, 30)
            assert changed["silenced_until"] is not None
            assert "silenced until" in page.text_content(f"{row} [data-testid=rule-state]")

            # The schedule resumed: its round fires the rule, shaded on the open graph live.
            page.click("p.crumbs a")
            page.wait_for_selector("svg.smoke")
            assert page.locator("svg.smoke .alert-span").count() == 0
            page.click(".page-head [data-testid=toggle]")
            page.wait_for_selector("svg.smoke .alert-span.firing", timeout=60000)
            assert "port refused at once firing since" in page.text_content("[data-testid=alert-periods]")
            assert "1 firing" in page.text_content("[data-testid=alert-rules]")
            [alert] = call(f"{server.url}/api/alerts?schedule={sid}")["items"]
            assert alert["state"] == "firing" and alert["rule_id"] == rule["rule_id"]
            assert "1 alert period shaded" in page.get_attribute("svg.smoke", "aria-label")
            check_page(page, shots, "graph-firing", problems)
            page.click("[data-testid=alert-rules]")
            page.wait_for_selector(f"{row}[data-firing=true] [data-testid=rule-state]:has-text('firing')")

            # The port open again, the next round clears it: the period ends on the open graph.
            page.click("p.crumbs a")
            page.wait_for_selector("svg.smoke .alert-span.firing")
            closed.listen()
            # paused and resumed: the next round now (a new interval alone keeps the rhythm)
            call(f"{server.url}/api/schedules/{sid}", "PATCH", {"enabled": False})
            call(f"{server.url}/api/schedules/{sid}", "PATCH", {"enabled": True})
            page.wait_for_selector("svg.smoke .alert-span:not(.firing)", timeout=60000)
            assert "port refused at once fired" in page.text_content("[data-testid=alert-periods]")
            assert ", resolved " in page.text_content("[data-testid=alert-periods]")
            assert call(f"{server.url}/api/alerts?schedule={sid}")["items"][0]["state"] == "resolved"

            # Delete asks first; "Keep it" keeps it.
            page.click("[data-testid=alert-rules]")
            page.wait_for_selector(f"{row}[data-firing=false] [data-testid=rule-state]:has-text('ok')")
            page.click(f"{row} [data-testid=delete]")
            assert page.is_visible("dialog.confirm") and "port refused at once" in page.text_content("dialog.confirm h2")
            page.click("dialog.confirm button:text('Keep it')")
            assert not page.is_visible("dialog.confirm") and page.locator(row).count() == 1
            page.click(f"{row} [data-testid=delete]")
            page.click("[data-testid=confirm-delete]")
            page.wait_for_selector(row, state="detached")
            assert call(rules_url)["items"] == []
            assert wait_until(lambda: call(f"{server.url}/api/alerts?schedule={sid}")["items"], 5)  # its alert stays
            assert problems == [], "\n".join(map(str, problems))
            assert errors == [], errors
    finally:
        context.close()
        agent.kill()
        closed.close()
        hook.shutdown()
        hook.server_close()


def test_a_dns_rule_with_an_expected_set_is_made_in_the_editor_and_previewed_on_the_stored_answers(
        chromium, server, processes):
    """The expected-set condition in the form: the set typed as text, refused empty, previewed
    on three hours of dig points (the answer moved in two rounds), saved as the API's list and
    held by the edit form."""
    token = call(f"{server.url}/api/agents", "POST", {"name": "dns-1"})["token"]
    assert token
    sid = call(f"{server.url}/api/schedules", "POST", {
        "name": "cdn answers", "tool": "dig", "params": {"target": "cdn.example.com"},
        "agents": ["dns-1"], "interval": 3600, "enabled": False})["schedule_id"]
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    usual = parse_result("dig", dig_output("cdn.example.com", ["203.0.113.10", "203.0.113.11"]))
    moved = parse_result("dig", dig_output("cdn.example.com", ["198.51.100.7"]))

    async def write():
        for step in range(36):
            task = {"agent": "dns-1", "task_id": 20_000 + step, "job_id": None, "tool": "dig", "state": "done",
                    "outcome": "ok", "parsed": moved if step in (12, 13) else usual}
            await server.app.toolbox.series.record(point_of(task, sid, now - datetime.timedelta(minutes=5 * (35 - step) + 2)))

    server.run(write())
    rules_url = f"{server.url}/api/schedules/{sid}/alerts"
    body = {"when": {"dns_expected": ["203.0.113.10", "203.0.113.11"]}}
    assert (preview(server, sid, body)["fired"], preview(server, sid, body)["cleared"]) == (1, 1)

    context, page = new_page(chromium, viewport=LAPTOP, color_scheme="light")
    try:
        with evidence("rules-dns", page, processes):
            errors = watch_errors(page)
            page.goto(server.login_url)
            page.wait_for_selector("nav a[data-route=schedules]")
            page.goto(f"{server.url}/#/schedules/{sid}/alerts")
            page.click("[data-testid=new-rule]")
            form = 'form[aria-label="New alert rule"]'
            assert page.is_hidden(f"{form} input[name=dns_expected]")
            page.select_option(f"{form} select[name=kind]", "dns_expected")
            assert page.is_visible(f"{form} input[name=dns_expected]") and page.is_hidden(f"{form} select[name=changed]")
            page.fill(f"{form} input[name=dns_expected]", "x")
            page.fill(f"{form} input[name=dns_expected]", "")
            assert page.text_content(f"{form} #rule-err-dns_expected") == "a list of 1 to 32 answers (addresses or names)"
            page.click(f"{form} button[type=submit]")
            assert call(rules_url)["items"] == []  # nothing sent
            page.fill(f"{form} input[name=dns_expected]", "203.0.113.11,  203.0.113.10\n")
            assert page.text_content(f"{form} #rule-err-dns_expected") == ""
            page.select_option(f"{form} select[name=hours]", "3")
            page.click(f"{form} [data-testid=preview]")
            page.wait_for_selector(f"{form} .preview-text:has-text('would have fired once and cleared once')")
            page.click(f"{form} button[type=submit]")
            page.wait_for_selector("#rule-list tr[data-rule]")
            [rule] = call(rules_url)["items"]
            assert rule["when"] == {"dns_expected": ["203.0.113.10", "203.0.113.11"]}
            row = f"tr[data-rule='{rule['rule_id']}']"
            assert page.text_content(f"{row} td[data-label=Condition]") == "DNS answers not in {203.0.113.10, 203.0.113.11}"
            page.click(f"{row} [data-testid=edit]")
            edit = 'form[aria-label="Edit the rule “DNS answers not in {203.0.113.10, 203.0.113.11}”"]'
            assert page.input_value(f"{edit} select[name=kind]") == "dns_expected"
            assert page.input_value(f"{edit} input[name=dns_expected]") == "203.0.113.10, 203.0.113.11"
            assert errors == [], errors
    finally:
        context.close()


def test_a_viewer_and_an_operator_who_does_not_own_the_schedule_read_its_rules_and_change_nothing(
        chromium, server, processes):
    call(f"{server.url}/api/agents", "POST", {"name": "dns-2"})
    sid = call(f"{server.url}/api/schedules", "POST", {
        "name": "admin's dns", "tool": "dig", "params": {"target": "cdn.example.com"},
        "agents": ["dns-2"], "interval": 3600, "enabled": False})["schedule_id"]
    call(f"{server.url}/api/schedules/{sid}/alerts", "POST",
         {"name": "cdn moved", "when": {"dns_expected": ["203.0.113.10"]}, "rounds": 2, "of_rounds": 3})
    for role in ("viewer", "operator"):
        profile = FeishuProfile(union_id=f"on_{role}", open_id=f"ou_{role}", name=f"A {role}")
        user, _created = server.run(server.app.toolbox.users.upsert_feishu(profile, role))
        cookie, _claims = sessions.issue(user["_id"], server.app.toolbox.config.secret, 1)
        context, page = new_page(chromium, viewport=LAPTOP, color_scheme="light")
        try:
            with evidence(f"rules-{role}", page, processes):
                errors = watch_errors(page)
                context.add_cookies([{"name": sessions.SESSION_COOKIE, "value": cookie, "url": server.url}])
                page.goto(f"{server.url}/#/schedules/{sid}/alerts")
                row = page.wait_for_selector("#rule-list tr[data-rule]")
                assert page.text_content(".role") == role
                assert "cdn moved" in row.inner_text() and "DNS answers not in {203.0.113.10}" in row.inner_text()
                assert "2 of 3 rounds" in row.inner_text()
                assert page.locator("[data-testid=new-rule]").count() == 0
                assert page.locator("#rule-list [data-testid=edit], #rule-list [data-testid=delete]").count() == 0
                assert errors == [], errors
        finally:
            context.close()
