"""The audit trail of a whole session: what is recorded, filtering, paging, and no secrets."""

import json
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.conftest import ADMIN_TOKEN, Browser


def query_of(url):
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


@pytest.mark.config(feishu=True, admins=("on_alice",))
@pytest.mark.gen_test(timeout=30)
async def test_a_full_session_is_audited_without_a_single_secret(app, api, browser, fake_feishu,
                                                                  http_client, base_url):
    codes, states = [], []
    # A refused attempt first (Bob declines on Feishu), then Bob and Alice log in.
    fake_feishu.state.next_user, fake_feishu.state.deny = "ou_bob", True
    bob = Browser(http_client, base_url)
    assert (await bob.feishu_login()).code == 403
    fake_feishu.state.deny = False
    assert (await bob.feishu_login()).code == 302
    fake_feishu.state.next_user = "ou_alice"
    start = await browser.get("/auth/feishu/login")
    states.append(query_of(start.headers["Location"])["state"])
    authorize = await browser.get(start.headers["Location"])
    codes.append(query_of(authorize.headers["Location"])["code"])
    assert (await browser.get(authorize.headers["Location"])).code == 302
    # A replayed code is refused.
    again = await browser.get("/auth/feishu/login")
    states.append(query_of(again.headers["Location"])["state"])
    await browser.get("/auth/feishu/callback?" + urlencode({"code": codes[0], "state": states[-1]}))

    await browser.get("/")
    session_cookie = browser.cookies["toolbox_session"]
    headers = {"Cookie": browser.cookie_header(), "X-XSRFToken": browser.cookies["_xsrf"]}
    created = await api("/api/tokens", "POST", json={"name": "nightly"}, token=None, headers=headers)
    token = created.json["token"]
    agent = await api("/api/agents", "POST", json={"name": "bj-1"}, token=token)
    agent_token = agent.json["token"]
    users = {u["name"]: u["id"] for u in (await api("/api/users", token=token)).json["items"]}
    await api(f"/api/users/{users['Bob']}", "PATCH", json={"role": "operator"}, token=token)
    await api(f"/api/users/{users['Bob']}", "PATCH", json={"disabled": True}, token=token)
    await api(f"/api/tokens/{created.json['id']}", "DELETE", token=None, headers=headers)
    assert (await browser.post("/auth/logout")).code == 200

    page = await api("/api/audit?limit=500")
    items = page.json["items"]
    assert page.json["next_before"] is None
    trail = [(e["actor"], e["action"], e["outcome"], e["details"].get("reason")) for e in reversed(items)]
    assert trail == [
        (None, "login", "refused", "denied"),
        ("Bob", "login", "ok", None),
        ("Alice", "login", "ok", None),
        (None, "login", "refused", "code_used"),
        ("Alice", "token.create", "ok", None),
        ("Alice", "agent.create", "ok", None),
        ("Alice", "user.role", "ok", None),
        ("Alice", "user.disable", "ok", None),
        ("Alice", "token.revoke", "ok", None),
        ("Alice", "logout", "ok", None),
    ]
    by_action = {e["action"]: e for e in items}
    assert by_action["token.create"]["details"]["name"] == "nightly"
    assert by_action["token.revoke"]["target"] == created.json["id"]
    assert by_action["user.role"]["details"]["role"] == "operator"
    assert by_action["login"]["details"]["method"] == "feishu" and by_action["login"]["address"]
    assert by_action["agent.create"]["role"] == "admin" and by_action["agent.create"]["actor_id"] == users["Alice"]

    secrets = [token, agent_token, session_cookie, browser.cookies.get("_xsrf") or headers["X-XSRFToken"],
               fake_feishu.app_secret, ADMIN_TOKEN, *codes, *states, *fake_feishu.state.access_tokens]
    raw = json.dumps(await app.toolbox.parts.audit.all(), default=str)
    answered = json.dumps(items)
    for secret in secrets:
        assert secret not in raw and secret not in answered


@pytest.mark.gen_test
async def test_audit_filters_and_pages_without_gaps(app, api, login_as):
    ada = await login_as("admin", name="ada")
    for number in range(7):
        await api("/api/agents", "POST", json={"name": f"a{number}"}, token=None, headers=ada.headers)
    await api("/api/agents", "POST", json={"name": "by-token"})
    await api("/api/agents/a0", "DELETE")
    seen, before = [], None
    for _ in range(10):
        query = "/api/audit?action=agent.create&limit=3" + (f"&before={before}" if before else "")
        page = (await api(query, token=None, headers=ada.headers)).json
        seen += [e["target"] for e in page["items"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == ["by-token"] + [f"a{n}" for n in range(6, -1, -1)]
    by_ada = (await api("/api/audit?actor=ada")).json["items"]
    assert len(by_ada) == 7 and {e["action"] for e in by_ada} == {"agent.create"}
    assert len((await api(f"/api/audit?actor={ada.user_id}")).json["items"]) == 7
    assert [e["action"] for e in (await api("/api/audit?actor=admin-token")).json["items"]] == \
        ["agent.delete", "agent.create"]
    for bad in ("limit=0", "limit=501", "limit=x", "before=nope", "before=0123456789abcdef01234567"):
        assert (await api(f"/api/audit?{bad}")).code == 400, bad
