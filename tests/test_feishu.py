"""Tests for toolbox.people.feishu against the fake Feishu server in tests/fake_feishu.py.

Fixtures: ``app`` (the fake, for pytest-tornado), ``state`` (its FakeFeishuState),
``feishu_url`` (its http://127.0.0.1:PORT base), ``client`` (a FeishuClient aimed at it).
"""

import base64
import json
import logging
import re
import socket
from urllib.parse import parse_qs, urlsplit

import pytest
import tornado.testing

from tests.fake_feishu import TOKEN_ERRORS, USER_INFO_ERRORS, make_fake_feishu
from toolbox.people.feishu import ERRORS, FeishuClient, FeishuError, FeishuProfile, callback_error_message

APP_ID = "cli_a5d611352af9d00b"
APP_SECRET = "baBqE5um9LbFGDy3X7LcfxQX1sqpXlwy"
REDIRECT = "https://toolbox.example.com/auth/feishu/callback"
JSON = {"Content-Type": "application/json; charset=utf-8"}
USERS = {
    "ou_alice": {"name": "Alice", "en_name": "Alice A", "union_id": "on_alice", "user_id": "a1",
                 "email": "alice@example.com", "enterprise_email": "alice@corp.example.com",
                 "tenant_key": "t1", "avatar_url": "https://img.example/alice", "mobile": "+861"},
    "ou_bob": {"name": "Bob", "en_name": "Bob", "union_id": "on_bob", "tenant_key": "t1"},
}


@pytest.fixture
def fake():
    return make_fake_feishu(APP_ID, APP_SECRET, users=USERS, redirect_uris=[REDIRECT])


@pytest.fixture
def app(fake):
    return fake[0]


@pytest.fixture
def state(fake):
    return fake[1]


@pytest.fixture
def feishu_url(http_port):
    return f"http://127.0.0.1:{http_port}"


@pytest.fixture
def client(http_client, feishu_url):
    return FeishuClient(APP_ID, APP_SECRET, accounts_url=feishu_url, open_url=feishu_url,
                        http_client=http_client, request_timeout=5)


async def authorize(http_client, url):
    """Open the authorize page like a browser; return (status, Location query dict, Location)."""
    r = await http_client.fetch(url, follow_redirects=False, raise_error=False)
    location = r.headers.get("Location", "")
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    return r.code, query, location


async def get_code(http_client, client, redirect_uri=REDIRECT, state_param="st4te"):
    status, query, _ = await authorize(http_client, client.authorize_url(redirect_uri, state_param))
    assert status == 302 and query["state"] == state_param
    return query["code"]


def assert_clean(err, caplog, *secrets):
    """The error (and anything logged) shows no secret, code or token."""
    texts = [str(err), repr(err), err.message, *map(str, err.args), caplog.text]
    for secret in (APP_SECRET, *secrets):
        assert all(secret not in t for t in texts)
    assert err.message and err.message[-1] in ".!"


async def expect_error(awaitable, reason, caplog, *secrets):
    with pytest.raises(FeishuError) as info:
        await awaitable
    assert info.value.reason == reason, info.value.message
    assert_clean(info.value, caplog, *secrets)
    return info.value


# --- Authorize URL and the browser step ---

def test_authorize_url_shape():
    c = FeishuClient(APP_ID, APP_SECRET)
    url = c.authorize_url(REDIRECT, "Zk3x9Qp2", scope="contact:user.email:readonly offline_access")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https", "accounts.feishu.cn", "/open-apis/authen/v1/authorize")
    assert parts.query.startswith(f"client_id={APP_ID}&response_type=code&redirect_uri=https%3A%2F%2F")
    assert "%20" in parts.query and "+" not in parts.query and APP_SECRET not in url
    assert parse_qs(parts.query) == {
        "client_id": [APP_ID], "response_type": ["code"], "redirect_uri": [REDIRECT],
        "state": ["Zk3x9Qp2"], "scope": ["contact:user.email:readonly offline_access"]}
    assert "scope=" not in c.authorize_url(REDIRECT, "s")
    lark = FeishuClient(APP_ID, APP_SECRET, accounts_url="https://accounts.larksuite.com/")
    assert lark.authorize_url(REDIRECT, "s").startswith("https://accounts.larksuite.com/open-apis/")
    assert APP_SECRET not in repr(lark)


@pytest.mark.gen_test
async def test_happy_path(http_client, client, state, caplog):
    caplog.set_level(logging.DEBUG)
    state.next_user = "ou_alice"
    status, query, location = await authorize(http_client, client.authorize_url(REDIRECT, "Zk3x9Qp2"))
    assert status == 302 and location.startswith(REDIRECT + "?")
    assert query["state"] == "Zk3x9Qp2"
    code = query["code"]
    assert len(code) >= 64 and re.fullmatch(r"[A-Za-z0-9_-]+", code)

    profile = await client.login(code, REDIRECT)
    assert isinstance(profile, FeishuProfile)
    assert (profile.open_id, profile.union_id, profile.user_id, profile.tenant_key) == (
        "ou_alice", "on_alice", "a1", "t1")
    assert (profile.name, profile.en_name, profile.email, profile.enterprise_email) == (
        "Alice", "Alice A", "alice@example.com", "alice@corp.example.com")
    assert profile.avatar_url == "https://img.example/alice" and profile.raw["mobile"] == "+861"

    token_req, info_req = state.requests[1], state.requests[2]
    assert token_req["path"] == "/open-apis/authen/v2/oauth/token"
    assert token_req["headers"]["Content-Type"].startswith("application/json")
    assert "Authorization" not in token_req["headers"]
    assert json.loads(token_req["body"]) == {
        "grant_type": "authorization_code", "client_id": APP_ID, "client_secret": APP_SECRET,
        "code": code, "redirect_uri": REDIRECT}
    token = info_req["headers"]["Authorization"].removeprefix("Bearer ")
    assert token.startswith("eyJ") and token in state.access_tokens
    assert not info_req["body"] and not info_req["query"]
    assert all(APP_SECRET not in r["query"] for r in state.requests)
    assert all(s not in caplog.text for s in (APP_SECRET, code, token))


@pytest.mark.gen_test
async def test_exchange_code_returns_flat_token_dict(http_client, client):
    token = await client.exchange_code(await get_code(http_client, client), REDIRECT)
    assert token["code"] == 0 and token["token_type"] == "Bearer" and token["expires_in"] == 7200
    assert token["access_token"].startswith("eyJ") and "refresh_token" not in token


@pytest.mark.gen_test
async def test_offline_access_gives_refresh_token(http_client, client, state, feishu_url):
    url = client.authorize_url(REDIRECT, "s", scope="offline_access")
    _, query, _ = await authorize(http_client, url)
    token = await client.exchange_code(query["code"], REDIRECT)
    assert "offline_access" in token["scope"].split() and token["refresh_token"].startswith("eyJ")
    body = {"grant_type": "refresh_token", "client_id": APP_ID, "client_secret": APP_SECRET,
            "refresh_token": token["refresh_token"]}
    answers = [await http_client.fetch(feishu_url + "/open-apis/authen/v2/oauth/token", method="POST",
                                       headers=JSON, body=json.dumps(body), raise_error=False)
               for _ in range(2)]
    assert answers[0].code == 200 and json.loads(answers[0].body)["refresh_token"] != body["refresh_token"]
    assert answers[1].code == 400 and json.loads(answers[1].body)["code"] == 20073


@pytest.mark.gen_test
async def test_user_without_email_comes_back_without_it(http_client, client, state):
    state.next_user = "ou_bob"
    bob = await client.login(await get_code(http_client, client), REDIRECT)
    assert (bob.email, bob.enterprise_email, bob.user_id) == (None, None, None)
    assert "email" not in bob.raw and bob.name == "Bob"
    state.next_user = "ou_alice"
    state.permissions.discard("contact:user.email:readonly")
    alice = await client.login(await get_code(http_client, client), REDIRECT)
    assert alice.email is None and "email" not in alice.raw and alice.user_id == "a1"


@pytest.mark.gen_test
async def test_access_denied(http_client, client, state):
    state.deny = True
    status, query, _ = await authorize(http_client, client.authorize_url(REDIRECT, "xyz"))
    assert status == 302 and query == {"error": "access_denied", "state": "xyz"}
    assert "did not allow" in callback_error_message("access_denied")
    assert "<script>" not in callback_error_message("<script>")


@pytest.mark.gen_test
async def test_authorize_page_edge_cases(http_client, feishu_url, state):
    base = feishu_url + "/open-apis/authen/v1/authorize?response_type=code&client_id="
    status, query, _ = await authorize(http_client, f"{base}{APP_ID}&redirect_uri={REDIRECT}")
    assert status == 302 and "state" not in query and "code" in query
    frag = REDIRECT + "#/login"
    state.allow_redirect(frag)
    _, _, location = await authorize(http_client, f"{base}{APP_ID}&redirect_uri=%s&state=s" % (
        frag.replace("#", "%23")))
    assert re.fullmatch(re.escape(REDIRECT) + r"\?code=[\w-]+&state=s#/login", location)
    for url, code in ((f"{base}cli_unknown&redirect_uri={REDIRECT}", "20048"),
                      (f"{base}{APP_ID}&redirect_uri=https://evil.example/cb", "20029")):
        r = await http_client.fetch(url, follow_redirects=False, raise_error=False)
        assert r.code == 400 and "Location" not in r.headers and code in r.body.decode()


# --- Token endpoint errors ---

@pytest.mark.gen_test
async def test_reused_code(http_client, client, caplog):
    code = await get_code(http_client, client)
    await client.login(code, REDIRECT)
    err = await expect_error(client.exchange_code(code, REDIRECT), "code_used", caplog, code)
    assert err.code == 20065 and err.http_status == 400
    assert err.message == "This login link was already used. Please log in again."


@pytest.mark.gen_test
async def test_unknown_code(client, caplog):
    err = await expect_error(client.exchange_code("x" * 64, REDIRECT), "invalid_code", caplog, "x" * 64)
    assert err.code == 20003


@pytest.mark.gen_test
async def test_expired_code(http_client, client, state, caplog):
    code = await get_code(http_client, client)
    state.advance(301)
    err = await expect_error(client.exchange_code(code, REDIRECT), "code_expired", caplog, code)
    assert err.code == 20004 and "expired" in err.message


@pytest.mark.gen_test
async def test_wrong_redirect_uri(http_client, client, caplog):
    code = await get_code(http_client, client)
    err = await expect_error(client.exchange_code(code, REDIRECT + "/other"),
                             "redirect_uri_mismatch", caplog, code)
    assert err.code == 20071


@pytest.mark.gen_test
async def test_missing_redirect_uri(http_client, client, caplog):
    code = await get_code(http_client, client)
    err = await expect_error(client.exchange_code(code, ""), "missing_parameter", caplog, code)
    assert err.code == 20001


@pytest.mark.gen_test
async def test_bad_secret(http_client, client, feishu_url, caplog):
    code = await get_code(http_client, client)
    bad = FeishuClient(APP_ID, "wrong-secret-123", accounts_url=feishu_url, open_url=feishu_url,
                       http_client=http_client)
    err = await expect_error(bad.exchange_code(code, REDIRECT), "bad_client_secret", caplog,
                             code, "wrong-secret-123")
    assert err.code == 20002 and "administrator" in err.message


@pytest.mark.gen_test
async def test_user_not_allowed(http_client, client, state, caplog):
    state.not_allowed.add("ou_alice")
    code = await get_code(http_client, client)
    err = await expect_error(client.login(code, REDIRECT), "user_not_allowed", caplog, code)
    assert err.code == 20010 and "not allowed to use this app" in err.message


@pytest.mark.gen_test
async def test_code_for_another_client(http_client, client, state, feishu_url, caplog):
    state.add_app("cli_other", "other-secret")
    other = FeishuClient("cli_other", "other-secret", accounts_url=feishu_url, open_url=feishu_url,
                         http_client=http_client)
    code = await get_code(http_client, other)
    err = await expect_error(client.exchange_code(code, REDIRECT), "client_mismatch", caplog, code)
    assert err.code == 20024


@pytest.mark.gen_test
@pytest.mark.parametrize("code,status,reason", [
    (20050, 500, "server_error"), (20072, 503, "temporarily_unavailable")])
async def test_temporary_failure_then_retry(http_client, client, state, caplog, code, status, reason):
    login_code = await get_code(http_client, client)
    state.fail_next_token = code
    err = await expect_error(client.login(login_code, REDIRECT), reason, caplog, login_code)
    assert (err.code, err.http_status, err.retryable) == (code, status, True)
    assert "try again" in err.message
    assert (await client.login(login_code, REDIRECT)).open_id == "ou_alice"


@pytest.mark.gen_test
@pytest.mark.parametrize("code", sorted(TOKEN_ERRORS))
async def test_every_token_error_code_is_mapped(client, state, caplog, code):
    state.fail_next_token = code
    err = await expect_error(client.exchange_code("c0de" * 16, REDIRECT), ERRORS[code][0],
                             caplog, "c0de" * 16)
    assert err.code == code and err.message == ERRORS[code][1]


@pytest.mark.gen_test
async def test_errors_read_from_body_even_with_http_200(http_client, client, state, caplog):
    state.errors_with_http_200 = True
    code = await get_code(http_client, client)
    await client.exchange_code(code, REDIRECT)
    err = await expect_error(client.exchange_code(code, REDIRECT), "code_used", caplog, code)
    assert err.http_status == 200


@pytest.mark.gen_test
async def test_unknown_error_code(client, state, caplog):
    state.fail_next_token = 12345
    err = await expect_error(client.exchange_code("c" * 64, REDIRECT), "feishu_error", caplog)
    assert err.code == 12345 and "12345" in err.message


@pytest.mark.gen_test
async def test_fake_token_endpoint_rules(http_client, client, feishu_url):
    """Form bodies work; Basic + body secret, bad grant_type and bad JSON are refused."""
    url = feishu_url + "/open-apis/authen/v2/oauth/token"
    code = await get_code(http_client, client)
    basic = "Basic " + base64.b64encode(f"{APP_ID}:{APP_SECRET}".encode()).decode()
    cases = [
        ({"Authorization": basic, **JSON}, {"grant_type": "authorization_code", "client_secret": APP_SECRET,
                                    "code": code, "redirect_uri": REDIRECT}, 20070),
        (JSON, {"grant_type": "password", "client_id": APP_ID, "client_secret": APP_SECRET}, 20036),
        (JSON, "{not json", 20063),
        ({"Content-Type": "application/x-www-form-urlencoded"},
         f"grant_type=authorization_code&client_id={APP_ID}&client_secret={APP_SECRET}"
         f"&code={code}&redirect_uri={REDIRECT}", 0),
    ]
    for headers, body, expected in cases:
        body = body if isinstance(body, str) else json.dumps(body)
        r = await http_client.fetch(url, method="POST", headers=headers, body=body, raise_error=False)
        reply = json.loads(r.body)
        assert reply["code"] == expected and r.code == (200 if expected == 0 else 400)
        assert expected == 0 or set(reply) == {"code", "error", "error_description"}


# --- user_info errors ---

@pytest.mark.gen_test
async def test_user_info_invalid_and_expired_token(http_client, client, state, caplog):
    err = await expect_error(client.user_info("eyJnot.a.token"), "invalid_token", caplog, "eyJnot.a.token")
    assert err.code == 99991668
    token = (await client.exchange_code(await get_code(http_client, client), REDIRECT))["access_token"]
    state.advance(7201)
    err = await expect_error(client.user_info(token), "token_expired", caplog, token)
    assert err.code == 99991677


@pytest.mark.gen_test
@pytest.mark.parametrize("code", sorted(USER_INFO_ERRORS))
async def test_every_user_info_error_code_is_mapped(client, state, caplog, code):
    state.fail_next_user_info = code
    err = await expect_error(client.user_info("eyJtoken"), ERRORS[code][0], caplog, "eyJtoken")
    assert err.code == code and err.http_status == USER_INFO_ERRORS[code][0]


# --- Network trouble and odd answers ---

@pytest.mark.gen_test
async def test_unreachable_server(http_client, caplog):
    sock, port = tornado.testing.bind_unused_port()
    sock.close()
    url = f"http://127.0.0.1:{port}"
    c = FeishuClient(APP_ID, APP_SECRET, accounts_url=url, open_url=url, http_client=http_client)
    err = await expect_error(c.login("c" * 64, REDIRECT), "unreachable", caplog, "c" * 64)
    assert err.code is None and err.retryable


@pytest.mark.gen_test
async def test_timeout_is_unreachable(http_client, caplog):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)  # accepts connections into the backlog, never answers
    try:
        url = "http://127.0.0.1:%d" % sock.getsockname()[1]
        c = FeishuClient(APP_ID, APP_SECRET, accounts_url=url, open_url=url,
                         http_client=http_client, request_timeout=0.2)
        await expect_error(c.user_info("eyJtoken"), "unreachable", caplog, "eyJtoken")
    finally:
        sock.close()


@pytest.mark.gen_test
@pytest.mark.parametrize("raw", [
    (502, "text/html", "<html><body>502 Bad Gateway</body></html>"),
    (200, "application/json", "[1, 2]"),
    (200, "application/json", '{"code": 0, "token_type": "Bearer"}'),
    (200, "application/json", '{"code": "abc"}'),
])
async def test_bad_token_response(client, state, caplog, raw):
    state.raw_next_token = raw
    err = await expect_error(client.exchange_code("c" * 64, REDIRECT), "bad_response", caplog, "c" * 64)
    assert err.http_status == raw[0] and err.code is None


@pytest.mark.gen_test
@pytest.mark.parametrize("raw", [
    (200, "text/plain", "not json"),
    (200, "application/json", '{"code": 0, "msg": "success"}'),
    (200, "application/json", '{"code": 0, "msg": "success", "data": {"name": "X"}}'),
])
async def test_bad_user_info_response(client, state, caplog, raw):
    state.raw_next_user_info = raw
    await expect_error(client.user_info("eyJtoken"), "bad_response", caplog, "eyJtoken")


def test_callback_error_messages():
    assert callback_error_message("access_denied") != callback_error_message("whatever")
    assert "try again" in callback_error_message("whatever").lower()
