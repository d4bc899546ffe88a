"""The console's rough edges gone (issue 12, items 3, 4, 5 and 7's keyboard), in Debian's
Chromium against a real ``toolbox`` server and a real ``toolbox-agent``.

- Agents at fleet size (28): search, sort, group by a tag's key, tag chips with counts,
  compact rows with the actions in a keyboard menu; a failed create keeps the last
  once-only token panel.
- Run: "any of" / "all of" tags with how many agents that reaches; arrow keys in the tool
  radios and the selection tabs; focus kept on "Select online" and the tabs; focus on the
  job's heading when it starts; the menu says Run, not History; a URL typed as a ping
  target is called a URL; the DNS server box asks for an IP address.
- Bugs: ``#/jobs/999`` shows only that it does not exist; Cancel is offered only while
  something is queued; "… ago" refreshes; History's Jobs/Tasks keep focus by keyboard;
  the audit filter "token" finds token.create; Enter in the audit filter never reloads.
- A way back in: after Log out (the one-time link used), the login page takes the admin
  API token (a wrong one is refused and said so); the bad-link page is styled.

Screenshots at 1280 and 390 px, light and dark, go to the artifacts.
"""

import os
import re

import pytest

from tests.console_scenes import RecordedAgent, _request as agent_request
from tests.processes import AgentProcess, ServerProcess, wait_until
from tests.test_console_browser import (ADMIN, CHROMIUM, LAPTOP, PHONE, Shots, call,
                                        evidence, new_page, watch_errors)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
    pytest.mark.timeout(300),
]

ISPS = ["telecom", "unicom", "mobile", "transit"]
CITIES = ["bj", "sh", "gz", "fra", "sg", "nyc", "sao"]
NO_SIDEWAYS = "document.scrollingElement.scrollWidth <= window.innerWidth"


def fleet(server):
    """28 agents: isp × city tags; returns the names."""
    names = []
    for n in range(28):
        isp, city = ISPS[n % 4], CITIES[n % 7]
        name = f"{city}-{isp}-{n:02d}"
        call(f"{server.url}/api/agents", "POST", {"name": name, "tags": [f"isp:{isp}", f"city:{city}"]})
        names.append(name)
    return names


def both(page, shots, name):
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        shots(name if scheme == "light" else f"{name}-dark")
    page.emulate_media(color_scheme="light")


def focused(page):
    return page.evaluate("(() => { const n = document.activeElement; return [n.tagName, n.dataset.focus || n.textContent.trim()]; })()")


def test_fleet_run_selection_keyboard_and_the_bugs(chromium, processes, tmp_path):
    server = ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "2"}, cwd=tmp_path)
    processes.append(server)
    login_url = server.wait_for_line(r"one-time link\): (http://\S+)").group(1)
    fleet(server)
    live = call(f"{server.url}/api/agents", "POST", {"name": "lab-live", "tags": ["isp:telecom", "city:lab"]})
    processes.append(AgentProcess(server.url, "lab-live", live["token"], cwd=tmp_path))
    assert wait_until(lambda: call(f"{server.url}/api/agents/lab-live")["online"], 60)

    context, page = new_page(chromium, viewport=LAPTOP, color_scheme="light")
    with evidence("fleet", page, processes):
        errors = watch_errors(page)
        shots = Shots(page, "fleet")
        page.goto(login_url)
        page.wait_for_selector('tr[data-agent="lab-live"][data-online="true"]')

        # Agents: counts on tag chips, search, sort, group by a tag's key.
        assert page.text_content('.fleet-tools .chip[data-tag="isp:telecom"] .chip-count') == ", agents: 8"
        assert page.text_content("[data-testid=agents-shown]") == "29 agents"
        page.fill('input[aria-label="Search agents"]', "SH-")
        page.wait_for_function("() => document.querySelector('[data-testid=agents-shown]').textContent === '4 of 29 agents match'")
        assert all(n.startswith("sh-") for n in page.locator("tr[data-agent]").evaluate_all("r => r.map(x => x.dataset.agent)"))
        page.fill('input[aria-label="Search agents"]', "")
        page.click('.fleet-tools .chip[data-tag="city:bj"]')
        page.wait_for_function("() => document.querySelector('[data-testid=agents-shown]').textContent === '4 of 29 agents match'")
        page.click('.fleet-tools .chip[data-tag="city:bj"]')
        page.select_option('select[aria-label="Sort agents"]', "status")
        assert page.locator("tr[data-agent]").first.get_attribute("data-agent") == "lab-live"
        page.select_option('select[aria-label="Group agents by tag"]', "isp")
        groups = page.locator(".agent-group").evaluate_all("g => g.map(x => [x.dataset.group, x.querySelectorAll('tr[data-agent]').length])")
        assert groups == [["isp:mobile", 7], ["isp:telecom", 8], ["isp:transit", 7], ["isp:unicom", 7]]
        assert "8 · 1 online" in page.text_content('.agent-group[data-group="isp:telecom"] .group-title')
        row_height = page.locator('tr[data-agent="lab-live"]').evaluate("r => r.getBoundingClientRect().height")
        assert row_height < 60, row_height  # compact: one line at 1280 px
        both(page, shots, "agents-grouped")
        page.set_viewport_size(PHONE)
        assert page.evaluate(NO_SIDEWAYS)
        assert page.locator('tr[data-agent="lab-live"]').evaluate("r => r.getBoundingClientRect().height") < 110
        page.set_viewport_size(LAPTOP)
        page.select_option('select[aria-label="Group agents by tag"]', "")

        # The actions menu by keyboard: opens on its first item, Escape gives focus back.
        menu = 'tr[data-agent="bj-telecom-00"] button[aria-haspopup=menu]'
        page.focus(menu)
        page.keyboard.press("Enter")
        assert page.get_attribute(menu, "aria-expanded") == "true"
        assert focused(page) == ["BUTTON", "Edit tags"]
        page.keyboard.press("ArrowDown")
        assert focused(page) == ["BUTTON", "Reset token"]
        page.keyboard.press("Escape")
        assert page.get_attribute(menu, "aria-expanded") == "false" and focused(page)[1] == "menu:Actions for bj-telecom-00"

        # A failed create keeps the once-only token panel of the agent made before.
        page.fill('form[aria-label="Add an agent"] input[name=name]', "new-one")
        page.click('form[aria-label="Add an agent"] button[type=submit]')
        token = page.text_content('[data-testid="agent-token"]')
        page.fill('form[aria-label="Add an agent"] input[name=name]', "new-one")
        page.click('form[aria-label="Add an agent"] button[type=submit]')
        page.wait_for_selector('form[aria-label="Add an agent"] .msg.error')
        assert page.text_content('[data-testid="agent-token"]') == token

        # "… ago" stays true: the console refreshes it on its own.
        page.evaluate("""() => { const t = document.querySelector('tr[data-agent="lab-live"] time[data-ago]');
          t.dataset.ago = new Date(Date.now() - 70000).toISOString(); t.textContent = 'just now'; }""")
        page.wait_for_function("""() => document.querySelector('tr[data-agent="lab-live"] time[data-ago]').textContent === '1 min ago'""",
                               timeout=15000)

        # Run: tool radios and selection tabs by arrow keys; focus stays where it was.
        page.click('nav a[data-route="run"]')
        page.wait_for_selector(".run-form")
        page.focus('.tool-choice[data-tool="ping"]')
        page.keyboard.press("ArrowRight")
        assert page.get_attribute('.tool-choice[data-tool="traceroute"]', "aria-checked") == "true"
        assert focused(page) == ["BUTTON", "tool-traceroute"]
        page.keyboard.press("ArrowLeft")
        assert page.get_attribute('.tool-choice[data-tool="ping"]', "aria-checked") == "true"
        page.focus('.tab[data-mode="online"]')
        page.keyboard.press("ArrowRight")
        assert page.get_attribute('.tab[data-mode="names"]', "aria-selected") == "true" and focused(page) == ["BUTTON", "mode-names"]
        page.focus("button:has-text('Select online')")
        page.keyboard.press("Enter")
        assert focused(page) == ["BUTTON", "select-online"]
        assert page.text_content('[data-testid="selected-count"]') == "1 agent selected"
        page.focus('.tab[data-mode="tags"]')
        page.keyboard.press("Space")
        assert focused(page) == ["BUTTON", "mode-tags"]
        assert page.text_content('.tag-picker .chip[data-tag="isp:telecom"] .chip-count') == "8"

        # Tags: any of / all of, with how many agents that reaches.
        page.click('.tag-picker .chip[data-tag="isp:telecom"]')
        page.click('.tag-picker .chip[data-tag="isp:unicom"]')
        page.click('[role=radio][data-match="any"]')
        assert page.text_content('[data-testid="selected-count"]') == \
            "15 agents selected (having any of isp:telecom, isp:unicom; 1 online)"
        page.click('[role=radio][data-match="all"]')
        assert page.text_content('[data-testid="selected-count"]').startswith("0 agents selected")
        assert page.is_disabled(".run-form button[type=submit]")
        both(page, shots, "run-tags")
        page.click('[role=radio][data-match="any"]')

        # A URL typed as a ping target is called a URL; the DNS server box asks for an IP.
        page.fill("input[name=target]", "http://example.com")
        assert page.text_content("#err-target") == "target: is a URL; give only the host (example.com), or use HTTP timing for URLs"
        page.click('.tool-choice[data-tool="dig"]')
        assert page.get_attribute("input[name=server]", "placeholder") == "an IP address, e.g. 192.0.2.53"
        page.click('.tool-choice[data-tool="ping"]')
        page.fill("input[name=target]", "127.0.0.1")
        page.fill("input[name=count]", "1")

        # The job starts from the keyboard: focus on its heading, the menu on Run.
        page.focus(".run-form button[type=submit]")
        page.keyboard.press("Enter")
        page.wait_for_url("**/#/jobs/*")
        job_id = int(page.url.rsplit("/", 1)[1])
        page.wait_for_selector("h1 .target")
        assert page.evaluate("document.activeElement.tagName") == "H1"
        assert page.get_attribute('nav a[data-route="run"]', "aria-current") == "page"
        assert page.get_attribute('nav a[data-route="history"]', "class") in ("", None)
        job = call(f"{server.url}/api/jobs/{job_id}")
        assert len(job["agents"]) == 15 and "lab-live" in job["agents"]
        # 14 agents never fetch: their tasks stay queued, so Cancel is offered.
        page.wait_for_selector("button:has-text('Cancel queued tasks')")
        page.click("button:has-text('Cancel queued tasks')")
        page.wait_for_selector('tr[data-outcome="canceled"]')
        page.wait_for_function("() => !document.querySelector('.job-actions .danger')")

        # Nothing queued (the one task is out with its agent): Stop instead of Cancel.
        waiting = call(f"{server.url}/api/agents", "POST", {"name": "slow-one"})
        slow = RecordedAgent(server.url, "slow-one", waiting["token"])
        held = call(f"{server.url}/api/jobs", "POST", {"tool": "ping", "params": {"target": "127.0.0.1", "count": 1},
                                                       "agents": ["slow-one"]})["job_id"]
        page.goto(f"{server.url}/#/jobs/{held}")
        page.wait_for_selector("button:has-text('Cancel queued tasks')")
        fetched = [None]

        def fetch_only():
            task = agent_request(f"{server.url}/agent/task?agent_name=slow-one", headers={"Authorization": slow.token}, timeout=40)
            fetched[0] = task if task.get("task_id") else None
            return fetched[0]

        assert wait_until(fetch_only, 30, step=0)
        page.wait_for_selector('tr[data-agent="slow-one"][data-state="dispatched"]')
        page.wait_for_selector('.job-actions [data-testid="stop-job"]')
        assert page.locator("button:has-text('Cancel queued tasks')").count() == 0

        # A job that does not exist: just that, no empty cards.
        page.goto(f"{server.url}/#/jobs/999")
        page.wait_for_selector("text=Job #999 does not exist.")
        assert page.locator("main .card:visible").count() == 0 and page.locator("main .progress").count() == 0
        both(page, shots, "no-such-job")

        # History's tabs by keyboard keep focus; the audit filter matches a part.
        page.click('nav a[data-route="history"]')
        page.wait_for_selector("table[data-testid=jobs] tr[data-job]")
        page.focus('.tabs [data-focus="tab-jobs"]')
        page.keyboard.press("ArrowRight")
        page.wait_for_selector("table[data-testid=tasks]")
        assert focused(page) == ["BUTTON", "tab-tasks"]
        page.keyboard.press("Enter")
        assert focused(page) == ["BUTTON", "tab-tasks"]
        page.click('nav a[data-route="admin"]')
        page.wait_for_selector('section[aria-label="Audit log"] tbody tr')
        page.evaluate("window.__noReload = 'still here'")
        page.fill('section[aria-label="API tokens"] input[name=name]', "ci")
        page.click('section[aria-label="API tokens"] button[type=submit]')
        page.wait_for_selector('section[aria-label="API tokens"] .token-card')
        page.fill('section[aria-label="Audit log"] input[name=action]', "token")
        page.press('section[aria-label="Audit log"] input[name=action]', "Enter")
        page.wait_for_function("""() => [...document.querySelectorAll('section[aria-label="Audit log"] tbody tr td[data-label=Action]')]
          .every(td => td.textContent.includes('token')) && document.querySelector('section[aria-label="Audit log"] tbody tr')""")
        assert "token.create" in page.locator('section[aria-label="Audit log"] td[data-label=Action]').all_text_contents()
        assert page.evaluate("window.__noReload") == "still here"
        page.set_viewport_size(PHONE)
        page.wait_for_timeout(200)
        assert page.evaluate(NO_SIDEWAYS)
        cut = page.locator('section[aria-label="Audit log"] td.details').evaluate_all(
            "cells => cells.filter(c => c.scrollWidth > c.clientWidth + 1).length")
        assert cut == 0
        page.set_viewport_size(LAPTOP)
        both(page, shots, "admin-filtered")

        # A way back in: log out (the link is used), log in with the admin token.
        page.click("button:has-text('Log out')")
        page.wait_for_selector('form[aria-label="Log in with the admin token"]')
        page.goto(login_url)  # the one-time link no longer works, and its page is styled
        page.wait_for_selector("[data-testid=auth-page]")
        assert "This login link does not work" in page.text_content("h1")
        assert page.evaluate("getComputedStyle(document.querySelector('.card')).borderRadius") == "10px"
        both(page, shots, "bad-link")
        page.goto(server.url + "/")
        page.wait_for_selector('form[aria-label="Log in with the admin token"]')
        page.fill("#admin-token", "not-the-token")
        page.press("#admin-token", "Enter")
        page.wait_for_selector(".token-login .msg.error:has-text('not the admin API token')")
        both(page, shots, "login-token")
        page.fill("#admin-token", ADMIN)
        page.click(".token-login button[type=submit]")
        page.wait_for_selector(".who-name")
        assert page.text_content(".role") == "admin"
        assert re.search(r"admin_token", str(call(f"{server.url}/api/audit?action=login")["items"][0]["details"]))
        assert errors == [], errors
    context.close()
