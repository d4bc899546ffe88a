"""The one-time local admin link of a server without Feishu, and ``/auth/info``."""

import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import Browser


@pytest.mark.gen_test
async def test_the_local_link_opens_an_admin_session_once(app, browser, http_client, base_url):
    token = app.toolbox.local_login_url_token
    assert token and len(token) >= 30
    wrong = await browser.get("/auth/local?token=" + "x" * len(token))
    assert wrong.code == 403 and b"Restart the server" in wrong.body
    assert (await browser.get("/auth/local")).code == 403
    opened = await browser.get(f"/auth/local?token={token}")
    assert opened.code == 302 and opened.headers["Location"] == "/"
    me = json.loads((await browser.get("/api/me")).body)
    assert me["id"] == "local-admin" and me["name"] == "local-admin" and me["role"] == "admin"
    assert me["via"] == "session"
    # Single use: the same link in another browser (or this one) no longer works.
    assert (await Browser(http_client, base_url).get(f"/auth/local?token={token}")).code == 403
    await app.toolbox.audit.flush()
    logins = await app.toolbox.audit.list(action="login")
    # Wrong links need no credentials: counted in one entry per address and minute.
    assert [(e["outcome"], e["details"]["method"], e["details"].get("count")) for e in reversed(logins)] == \
        [("refused", "local", 3), ("ok", "local", None)]
    assert json.loads((await browser.get("/auth/info")).body) == {"feishu": False, "local_login": True}


@pytest.mark.config(feishu=True)
@pytest.mark.gen_test
async def test_there_is_no_local_link_when_feishu_is_configured(app, browser):
    assert app.toolbox.local_login_url_token is None
    for query in ("", "?token=", "?token=anything"):
        reply = await browser.get("/auth/local" + query)
        assert reply.code == 404 and reply.headers["Content-Type"].startswith("text/html")
    assert json.loads((await browser.get("/auth/info")).body) == {"feishu": True, "local_login": False}
    assert await app.toolbox.users.list() == []


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def open_without_redirect(url):
    """(status, headers) of a GET that does not follow redirects."""
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers


def start_server(extra_env):
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("FEISHU_", "TOOLBOX_", "MONGODB_"))}
    env.update(extra_env, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "toolbox", "--port", "0", "--sweep-interval", "5"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read_until_listening(process, deadline=15.0):
    """The start-up lines, up to "listening on" (read by a thread, so a silent server cannot hang us)."""
    lines = queue.Queue()
    process.reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True)
    process.reader.start()
    seen, end = [], time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            line = lines.get(timeout=max(0.01, end - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line.rstrip("\n"))
        if "listening on" in line:  # the last start-up line
            break
    return seen


def stop(process):
    process.terminate()
    try:
        process.wait(timeout=10)
    finally:
        if getattr(process, "reader", None) is not None:
            process.reader.join(timeout=10)
        process.stdout.close()


@pytest.mark.slow
def test_the_server_prints_the_one_time_link_and_it_works_once():
    process = start_server({})
    try:
        lines = read_until_listening(process)
        link_lines = [line for line in lines if line.startswith("toolbox: log in as admin (one-time link): ")]
        assert len(link_lines) == 1, lines
        link = link_lines[0].rsplit(" ", 1)[1]
        assert link.startswith("http://127.0.0.1:") and "/auth/local?token=" in link
        first, first_headers = open_without_redirect(link)
        assert first == 302 and "toolbox_session=" in first_headers["Set-Cookie"]
        assert open_without_redirect(link)[0] == 403
    finally:
        stop(process)


@pytest.mark.slow
def test_with_feishu_the_server_prints_no_link():
    process = start_server({"FEISHU_APP_ID": "cli_x", "FEISHU_APP_SECRET": "s"})
    try:
        lines = read_until_listening(process)
        assert any("listening on" in line for line in lines), lines
        assert not any("log in as admin" in line for line in lines), lines
    finally:
        stop(process)


@pytest.mark.config(public_url="https://toolbox.example.com")
@pytest.mark.gen_test
async def test_the_session_cookie_is_secure_behind_https(app, browser):
    opened = await browser.get(f"/auth/local?token={app.toolbox.local_login_url_token}")
    cookie = [c for c in opened.headers.get_list("Set-Cookie") if c.startswith("toolbox_session=")][0]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
