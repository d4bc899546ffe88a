"""Feishu login, driven like a browser against the fake Feishu (tests/fake_feishu.py).

Each test marked ``config(feishu=True)`` runs the app with Feishu pointed at the fake; the
``browser`` fixture keeps cookies and shows every redirect hop.
"""

import json
import logging
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from toolbox.people import sessions

FEISHU = pytest.mark.config(feishu=True)


def query_of(url):
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


async def me(browser):
    reply = await browser.get("/api/me")
    return reply.code, json.loads(reply.body)


def assert_page(response, status, *words):
    """A human HTML page: the status, text/html, the words, a link home, no traceback or JSON."""
    body = response.body.decode()
    assert response.code == status, body[:300]
    assert response.headers["Content-Type"].startswith("text/html")
    assert '<a href="/">' in body and "Traceback" not in body and not body.lstrip().startswith("{")
    for word in words:
        assert word in body, (word, body)


async def refusals(app):
    """Refused logins, newest first; counted ones (no user known yet) once per refusal."""
    await app.toolbox.audit.flush()
    entries = []
    for entry in await app.toolbox.audit.list(action="login"):
        if entry["outcome"] == "refused":
            entries += [entry] * entry["details"].get("count", 1)
    return entries


@FEISHU
@pytest.mark.gen_test
async def test_login_redirects_to_feishu_then_opens_a_session(app, browser, base_url, fake_feishu):
    start = await browser.get("/auth/feishu/login?next=/jobs/7%3Ftab%3Dresults")
    assert start.code == 302
    location = start.headers["Location"]
    assert location.startswith(fake_feishu.url + "/open-apis/authen/v1/authorize?")
    query = query_of(location)
    assert query["client_id"] == fake_feishu.app_id and query["response_type"] == "code"
    assert query["redirect_uri"] == base_url + "/auth/feishu/callback" and len(query["state"]) >= 20
    state_cookie = start.headers["Set-Cookie"].lower()
    assert "httponly" in state_cookie and "samesite=lax" in state_cookie and "max-age=600" in state_cookie

    authorize = await browser.get(location)
    callback = await browser.get(authorize.headers["Location"])
    assert callback.code == 302 and callback.headers["Location"] == "/jobs/7?tab=results"
    session = [c for c in callback.headers.get_list("Set-Cookie") if c.startswith("toolbox_session=")][0]
    assert "HttpOnly" in session and "SameSite=Lax" in session and "Secure" not in session
    assert "toolbox_oauth" not in browser.cookies  # the state is single-use

    code, body = await me(browser)
    assert code == 200
    assert body["name"] == "Alice" and body["role"] == "viewer" and body["via"] == "session"
    assert body["email"] == "alice@example.com" and body["avatar_url"] == "https://img.example/alice"
    stored = await app.toolbox.users.repo.by_union_id("on_alice")
    assert stored["_id"] == body["id"]
    assert (stored["open_id"], stored["feishu_user_id"], stored["tenant_key"]) == ("ou_alice", "a1", "t1")
    assert (stored["en_name"], stored["enterprise_email"]) == ("Alice A", "alice@corp.example.com")


@FEISHU
@pytest.mark.gen_test
async def test_the_consoles_page_in_next_comes_back_after_the_login(browser, fake_feishu):
    # The login page sends next=/#/jobs/7 (the console's hash): the callback goes back there.
    start = await browser.get("/auth/feishu/login?next=%2F%23%2Fjobs%2F7")
    authorize = await browser.get(start.headers["Location"])
    callback = await browser.get(authorize.headers["Location"])
    assert callback.code == 302 and callback.headers["Location"] == "/#/jobs/7"


@FEISHU
@pytest.mark.gen_test
async def test_each_login_refreshes_the_profile_and_keeps_the_user(app, browser, fake_feishu, api):
    await browser.feishu_login()
    first = await app.toolbox.users.repo.by_union_id("on_alice")
    await api(f"/api/users/{first['_id']}", "PATCH", json={"role": "operator"})
    fake_feishu.state.users["ou_alice"].update(name="Alice Liddell", open_id="ou_alice")
    fake_feishu.state.permissions.discard("contact:user.email:readonly")  # email no longer granted
    assert (await browser.feishu_login()).code == 302
    users = await app.toolbox.users.list()
    assert len(users) == 1 and users[0]["_id"] == first["_id"]
    assert users[0]["name"] == "Alice Liddell" and users[0]["email"] is None
    assert users[0]["role"] == "operator" and users[0]["last_login_at"] > first["last_login_at"]


@pytest.mark.config(feishu=True, admins=("alice@example.com", "on_bob"), default_role="operator")
@pytest.mark.gen_test
async def test_listed_people_become_admins_others_get_the_default_role(app, http_client, base_url,
                                                                      fake_feishu):
    from tests.conftest import Browser

    roles = {}
    for open_id in ("ou_alice", "ou_bob", "ou_eve"):
        fake_feishu.state.next_user = open_id
        visitor = Browser(http_client, base_url)
        assert (await visitor.feishu_login()).code == 302
        roles[open_id] = (await me(visitor))[1]["role"]
    # Without FEISHU_TENANT_KEY an email (unverified, set by any organisation's admins) counts for nothing.
    assert roles == {"ou_alice": "operator", "ou_bob": "admin", "ou_eve": "operator"}


@pytest.mark.config(feishu=True, admins=("alice@example.com", "eve@other.example"), feishu_tenant_key="t1")
@pytest.mark.gen_test
async def test_a_listed_email_makes_an_admin_only_within_the_configured_tenant(app, http_client, base_url,
                                                                             fake_feishu):
    from tests.conftest import Browser

    fake_feishu.state.next_user = "ou_alice"
    alice = Browser(http_client, base_url)
    assert (await alice.feishu_login()).code == 302
    assert (await me(alice))[1]["role"] == "admin"
    fake_feishu.state.next_user = "ou_eve"  # another tenant: refused outright
    assert (await Browser(http_client, base_url).feishu_login()).code == 403


@pytest.mark.config(feishu=True, admins=("eve@other.example",))
@pytest.mark.gen_test
async def test_an_email_claimed_in_any_tenant_is_not_enough_without_a_tenant_key(app, http_client, base_url,
                                                                                fake_feishu):
    from tests.conftest import Browser

    fake_feishu.state.next_user = "ou_eve"
    eve = Browser(http_client, base_url)
    assert (await eve.feishu_login()).code == 302
    assert (await me(eve))[1]["role"] == "viewer"
    assert "FEISHU_TENANT_KEY" in app.toolbox.feishu_login.rules.email_warning()


@FEISHU
@pytest.mark.gen_test
async def test_the_user_refusing_on_feishu_gets_a_page(app, browser, fake_feishu):
    fake_feishu.state.deny = True
    response = await browser.feishu_login()
    assert_page(response, 403, "Login cancelled", "Log in again")
    assert "toolbox_session" not in browser.cookies
    assert [e["details"]["reason"] for e in await refusals(app)] == ["denied"]


@FEISHU
@pytest.mark.gen_test
async def test_a_wrong_or_missing_state_is_refused(app, browser, http_client, base_url):
    from tests.conftest import Browser

    start = await browser.get("/auth/feishu/login")
    authorize = await browser.get(start.headers["Location"])
    callback = authorize.headers["Location"]
    forged = callback.replace(query_of(callback)["state"], "forged-state")
    assert_page(await browser.get(forged), 400, "could not be verified")
    # Another browser (no state cookie) cannot use the genuine callback URL either.
    assert_page(await Browser(http_client, base_url).get(callback), 400, "could not be verified")
    # Nor can this browser any more: the state cookie was cleared by the first attempt.
    assert_page(await browser.get(callback), 400, "could not be verified")
    reasons = [e["details"]["reason"] for e in await refusals(app)]
    assert reasons == ["unknown_state"] * 3


@FEISHU
@pytest.mark.gen_test
async def test_a_callback_without_code_is_refused(app, browser):
    start = await browser.get("/auth/feishu/login")
    state = query_of(start.headers["Location"])["state"]
    assert_page(await browser.get(f"/auth/feishu/callback?state={state}"), 400, "without a login code")
    assert [e["details"]["reason"] for e in await refusals(app)] == ["missing_code"]


@FEISHU
@pytest.mark.gen_test
async def test_a_reused_code_is_refused(app, browser):
    start = await browser.get("/auth/feishu/login")
    authorize = await browser.get(start.headers["Location"])
    used_code = query_of(authorize.headers["Location"])["code"]
    assert (await browser.get(authorize.headers["Location"])).code == 302
    again = await browser.get("/auth/feishu/login")
    state = query_of(again.headers["Location"])["state"]
    replay = await browser.get("/auth/feishu/callback?" + urlencode({"code": used_code, "state": state}))
    assert_page(replay, 400, "already used")
    assert [e["details"]["reason"] for e in await refusals(app)] == ["code_used"]


@FEISHU
@pytest.mark.gen_test
async def test_an_expired_code_is_refused(app, browser, fake_feishu):
    start = await browser.get("/auth/feishu/login")
    authorize = await browser.get(start.headers["Location"])
    fake_feishu.state.advance(301)
    assert_page(await browser.get(authorize.headers["Location"]), 400, "expired")
    assert [e["details"]["reason"] for e in await refusals(app)] == ["code_expired"]


@FEISHU
@pytest.mark.gen_test
async def test_a_wrong_app_secret_is_an_administrator_problem(app, browser, fake_feishu):
    fake_feishu.state.apps[fake_feishu.app_id] = "the-secret-was-rotated"
    assert_page(await browser.feishu_login(), 502, "app secret is wrong", "administrator")
    assert [e["details"]["reason"] for e in await refusals(app)] == ["bad_client_secret"]


@FEISHU
@pytest.mark.gen_test
async def test_a_redirect_uri_mismatch_is_refused(app, browser, base_url, fake_feishu):
    other = base_url + "/auth/feishu/callback?from=elsewhere"
    fake_feishu.state.allow_redirect(other)
    start = await browser.get("/auth/feishu/login")
    query = query_of(start.headers["Location"])
    query["redirect_uri"] = other
    authorize = await browser.get(fake_feishu.url + "/open-apis/authen/v1/authorize?" + urlencode(query))
    assert_page(await browser.get(authorize.headers["Location"]), 400, "different address")
    assert [e["details"]["reason"] for e in await refusals(app)] == ["redirect_uri_mismatch"]


@FEISHU
@pytest.mark.gen_test
async def test_a_user_outside_the_app_range_is_refused(app, browser, fake_feishu):
    fake_feishu.state.not_allowed.add("ou_alice")
    assert_page(await browser.feishu_login(), 403, "not allowed to use this app")
    assert await app.toolbox.users.list() == []
    assert [e["details"]["reason"] for e in await refusals(app)] == ["user_not_allowed"]


@FEISHU
@pytest.mark.gen_test
async def test_feishu_being_down_is_a_502_page(app, browser, fake_feishu):
    fake_feishu.state.fail_next_token = 20050
    assert_page(await browser.feishu_login(), 502, "temporary problem", "Log in again")
    fake_feishu.state.raw_next_token = (502, "text/html", "<html>Bad Gateway</html>")
    assert_page(await browser.feishu_login(), 502, "unexpected answer")
    fake_feishu.state.fail_next_user_info = 20050
    assert_page(await browser.feishu_login(), 502, "Feishu")
    reasons = sorted(e["details"]["reason"] for e in await refusals(app))
    assert reasons == ["bad_response", "server_error", "server_error"]


@pytest.mark.config(feishu=True, feishu_tenant_key="t1")
@pytest.mark.gen_test
async def test_users_of_another_tenant_are_refused(app, browser, fake_feishu):
    fake_feishu.state.next_user = "ou_eve"
    assert_page(await browser.feishu_login(), 403, "another organisation")
    assert await app.toolbox.users.list() == []
    entry = (await refusals(app))[0]
    assert entry["details"]["reason"] == "wrong_tenant" and entry["target"] == "on_eve"
    fake_feishu.state.next_user = "ou_bob"
    assert (await browser.feishu_login()).code == 302


@FEISHU
@pytest.mark.gen_test
async def test_a_disabled_user_is_refused_and_their_sessions_end_at_once(app, browser, api):
    assert (await browser.feishu_login()).code == 302
    user_id = (await me(browser))[1]["id"]
    assert (await api(f"/api/users/{user_id}", "PATCH", json={"disabled": True})).code == 200
    code, body = await me(browser)
    assert code == 403 and "disabled" in body["error"]
    assert_page(await browser.feishu_login(), 403, "disabled")
    entry = (await refusals(app))[0]
    assert entry["details"]["reason"] == "disabled" and entry["actor_id"] == user_id
    assert (await api(f"/api/users/{user_id}", "PATCH", json={"disabled": False})).code == 200
    assert (await browser.feishu_login()).code == 302 and (await me(browser))[0] == 200


@pytest.mark.parametrize("target", [
    "//evil.com", "/\\evil.com", "https://evil.com", "javascript:alert(1)", "/\t/evil.com",
    "http:/evil.com", "///evil.com", "evil.com", "",
])
@FEISHU
@pytest.mark.gen_test
async def test_next_never_leaves_the_site(app, browser, target):
    response = await browser.feishu_login(next=urlencode({"": target})[1:])
    assert response.code == 302 and response.headers["Location"] == "/"


def test_safe_next_keeps_local_paths_only():
    assert sessions.safe_next("/jobs/3?tab=a#x") == "/jobs/3?tab=a#x"
    assert sessions.safe_next("/") == "/"
    for bad in ("//evil.com", "/\\evil.com", "\\\\evil.com", "https://evil.com", "javascript:x", "/a\nb",
                "/\x00", None, 3, "/" + "a" * 3000, " /x"):
        assert sessions.safe_next(bad) == "/", bad


@FEISHU
@pytest.mark.gen_test
async def test_logout_needs_xsrf_ends_the_session_and_is_audited(app, browser):
    await browser.feishu_login()
    await browser.get("/")  # the console page sets the _xsrf cookie
    old_session = browser.cookies["toolbox_session"]
    refused = await browser.post("/auth/logout", xsrf=False)
    assert refused.code == 403 and (await me(browser))[0] == 200
    out = await browser.post("/auth/logout")
    assert out.code == 200 and json.loads(out.body) == {"status": True}
    assert "toolbox_session" not in browser.cookies and (await me(browser))[0] == 401
    browser.cookies["toolbox_session"] = old_session  # a copied cookie is dead too
    assert (await me(browser))[0] == 401
    logouts = await app.toolbox.audit.list(action="logout")
    assert len(logouts) == 1 and logouts[0]["actor"] == "Alice"


@FEISHU
@pytest.mark.gen_test
async def test_login_logs_no_code_token_or_secret(app, browser, fake_feishu, caplog):
    caplog.set_level(logging.DEBUG)
    start = await browser.get("/auth/feishu/login?next=/x")
    authorize = await browser.get(start.headers["Location"])
    code = query_of(authorize.headers["Location"])["code"]
    await browser.get(authorize.headers["Location"])
    again = await browser.get("/auth/feishu/login")
    state = query_of(again.headers["Location"])["state"]
    await browser.get("/auth/feishu/callback?" + urlencode({"code": code, "state": state}))  # reused: 400
    assert "/auth/feishu/callback?code=%2A%2A%2A" in caplog.text  # the access log shows the hop, redacted
    secrets = [code, state, fake_feishu.app_secret, browser.cookies["toolbox_session"],
               *fake_feishu.state.access_tokens]
    for secret in secrets:
        assert secret not in caplog.text


@pytest.mark.gen_test
async def test_feishu_pages_are_404_when_feishu_is_not_configured(app, browser):
    assert_page(await browser.get("/auth/feishu/login"), 404, "not set up")
    assert_page(await browser.get("/auth/feishu/callback?code=x&state=y"), 404, "not set up")
