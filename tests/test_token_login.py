"""Logging in with the admin API token (``POST /auth/token``): the way back in without
Feishu once the one-time link is used, with no restart.  POST only, with XSRF, audited,
throttled per address; off when Feishu is configured."""

import json

import pytest

from tests.conftest import ADMIN_TOKEN
from toolbox.errors import Forbidden, RateLimited
from toolbox.people.token_login import TokenLogin


async def console_page(browser):
    assert (await browser.get("/")).code == 200  # sets the _xsrf cookie, as the console page does
    return browser


@pytest.mark.gen_test
async def test_the_admin_token_opens_an_admin_session_after_the_link_was_used(app, browser):
    await console_page(browser)
    assert (await browser.get(f"/auth/local?token={app.toolbox.local_login_url_token}")).code == 302
    assert (await browser.post("/auth/logout")).code == 200
    assert (await browser.get(f"/auth/local?token={app.toolbox.local_login_url_token}")).code == 403
    assert (await browser.get("/api/me")).code == 401

    wrong = await browser.post("/auth/token", json={"token": "not-it"})
    assert wrong.code == 403 and json.loads(wrong.body) == {
        "status": False, "error": "this is not the admin API token the server was started with"}
    opened = await browser.post("/auth/token", json={"token": ADMIN_TOKEN})
    assert opened.code == 200 and json.loads(opened.body) == {"status": True}
    me = json.loads((await browser.get("/api/me")).body)
    assert (me["id"], me["role"], me["via"]) == ("local-admin", "admin", "session")
    logins = [(e["outcome"], e["details"]["method"], e["details"].get("reason"))
              for e in reversed(await app.toolbox.audit.list(action="login"))]
    assert logins[-2:] == [("refused", "admin_token", "bad_admin_token"), ("ok", "admin_token", None)]
    assert ADMIN_TOKEN not in json.dumps([str(e) for e in await app.toolbox.audit.list()])


@pytest.mark.gen_test
async def test_it_needs_xsrf_and_a_post_and_guessing_is_throttled(app, browser):
    await console_page(browser)
    no_xsrf = await browser.post("/auth/token", json={"token": ADMIN_TOKEN}, xsrf=False)
    assert no_xsrf.code == 403 and json.loads(no_xsrf.body)["status"] is False
    assert (await browser.get(f"/auth/token?token={ADMIN_TOKEN}")).code == 405
    assert (await browser.get("/api/me")).code == 401
    for _ in range(5):
        assert (await browser.post("/auth/token", json={"token": "guess"})).code == 403
    throttled = await browser.post("/auth/token", json={"token": ADMIN_TOKEN})  # even the right one
    assert throttled.code == 429 and int(throttled.headers["Retry-After"]) >= 1
    assert "too many failed logins from your address" in json.loads(throttled.body)["error"]
    assert (await browser.get("/api/me")).code == 401
    bad = await browser.post("/auth/token", json=["x"])
    assert bad.code == 429  # still throttled: nothing is read before the throttle says yes


@pytest.mark.config(feishu=True)
@pytest.mark.gen_test
async def test_with_feishu_there_is_no_token_login(app, browser):
    await console_page(browser)
    reply = await browser.post("/auth/token", json={"token": ADMIN_TOKEN})
    assert reply.code == 404 and "log in with Feishu" in json.loads(reply.body)["error"]


def test_the_throttle_frees_after_its_window_and_counts_everyone_too():
    now = [0.0]
    login = TokenLogin("right-token", enabled=True, per_address=2, clock=lambda: now[0])
    for address in ("a", "a"):
        with pytest.raises(Forbidden):
            login.check(address, "x")
    with pytest.raises(RateLimited):
        login.check("a", "right-token")
    assert login.check("b", "right-token") is True
    now[0] = 61.0
    assert login.check("a", "right-token") is True
    for n in range(20):  # many addresses together: ten times one address's tries
        with pytest.raises(Forbidden):
            login.check(f"x{n}", "guess")
    with pytest.raises(RateLimited):
        login.check("fresh", "right-token")
    assert not TokenLogin("", enabled=True).enabled and not TokenLogin("t", enabled=False).enabled
