"""A fake Feishu (Lark) OAuth server for tests: authorize page, v2/v3 token, user_info.

It follows shared/feishu-api.md: the accounts-host path and the open-host paths
are served by one Tornado app, so a test points both ``accounts_url`` and
``open_url`` of :class:`toolbox.people.feishu.FeishuClient` at the same base URL.

Drive it through the :class:`FakeFeishuState` returned by :func:`make_fake_feishu`:

- ``redirect_uris``: allowlist (exact match); others get the 20029 error page.
- ``next_user``: open_id of whoever "logs in" next (default: the first user);
  ``deny = True`` makes the user refuse (``?error=access_denied``).
- ``not_allowed``: open_ids outside the app's availability range (20010);
  a user dict with ``"allowed": False`` counts too.
- ``permissions``: the app's field permissions; gated user_info fields
  (email, mobile, …) are left out when their permission is missing, and any
  field the user dict lacks is left out too.
- ``code_ttl`` / ``token_ttl``; ``advance(seconds)`` moves the fake's clock.
- ``fail_next_token`` / ``fail_next_user_info = <code>``: the next call fails with
  that Feishu code (e.g. 20050 → HTTP 500, 20072 → 503).
- ``raw_next_token`` / ``raw_next_user_info = (status, content_type, body)``:
  the next call answers with exactly that (e.g. an HTML 502 page).
- ``errors_with_http_200 = True``: token errors come back with HTTP 200 (the
  CONFLICT noted in the doc).
- ``add_app(app_id, secret)``: a second app, for 20024 (code of another client).
- ``requests``: every request seen (method, path, query, headers, body).
"""

import base64
import hashlib
import json
import secrets
import time
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import tornado.escape
import tornado.web

SAMPLE_USERS = {
    "ou_alice": {"name": "Alice", "en_name": "Alice", "union_id": "on_alice", "user_id": "a1",
                 "email": "alice@example.com", "enterprise_email": "alice@corp.example.com",
                 "mobile": "+8613000000001", "tenant_key": "t1", "employee_no": "1001"},
}
PROFILE_FIELDS = ("name", "en_name", "avatar_url", "avatar_thumb", "avatar_middle", "avatar_big",
                  "open_id", "union_id", "email", "enterprise_email", "user_id", "mobile",
                  "tenant_key", "employee_no")
FIELD_PERMISSIONS = {
    "email": "contact:user.email:readonly",
    "enterprise_email": "contact:user.employee:readonly",
    "user_id": "contact:user.employee_id:readonly",
    "mobile": "contact:user.phone:readonly",
    "employee_no": "contact:user.employee:readonly",
}
# code -> (OAuth error, description); status is 500 for 20050, 503 for 20072, else 400.
TOKEN_ERRORS = {
    20001: ("invalid_request", "A required parameter is missing."),
    20002: ("invalid_client", "The client secret is invalid."),
    20003: ("invalid_grant", "The authorization code is not found. Please note that an "
                             "authorization code can only be used once."),
    20004: ("invalid_grant", "The authorization code has expired."),
    20008: ("invalid_grant", "The user does not exist."),
    20010: ("invalid_grant", "The user does not have permission to use this app."),
    20024: ("invalid_grant", "The authorization code belongs to another client."),
    20026: ("invalid_grant", "The refresh token is invalid."),
    20036: ("unsupported_grant_type", "The grant type is not supported."),
    20037: ("invalid_grant", "The refresh token has expired."),
    20048: ("invalid_client", "The app does not exist."),
    20049: ("invalid_grant", "PKCE verification failed."),
    20050: ("server_error", "An unexpected server error occurred. Please retry your request."),
    20063: ("invalid_request", "The request is malformed."),
    20065: ("invalid_grant", "The authorization code has already been used."),
    20067: ("invalid_scope", "The scope list contains duplicates."),
    20068: ("invalid_scope", "The scope was not granted by the user."),
    20070: ("invalid_client", "More than one client authentication method was used."),
    20071: ("invalid_grant", "The redirect_uri does not match the authorization request."),
    20072: ("temporarily_unavailable", "The service is temporarily unavailable."),
    20073: ("invalid_grant", "The refresh token has already been used."),
}
USER_INFO_ERRORS = {  # code -> (HTTP status, msg)
    20001: (200, "bad request"), 20005: (200, "invalid user_access_token"),
    20008: (200, "user not found"), 20021: (200, "user resigned"), 20022: (200, "user frozen"),
    20023: (200, "user not registered"), 20050: (500, "system error"),
    99991661: (400, "Missing access token for authorization."),
    99991663: (400, "Invalid access token for authorization."),
    99991668: (400, "Invalid user access token."),
    99991671: (400, "Token format is invalid."),
    99991677: (400, "User access token has expired."),
    99991400: (400, "Request trigger frequency limit."),
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt_like(**claims) -> str:
    """A token shaped like Feishu's new ones (``eyJ…``); the signature is random."""
    head = _b64(json.dumps({"alg": "ES256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(dict(claims, jti=secrets.token_hex(16))).encode())
    return f"{head}.{body}.{_b64(secrets.token_bytes(64))}"


class FakeFeishuState:
    """Everything the fake knows; tests read and change it directly."""

    def __init__(self, app_id, app_secret, users=None, redirect_uris=()):
        self.apps = {app_id: app_secret}
        self.app_id = app_id
        self.users = {oid: dict(u, open_id=oid) for oid, u in (SAMPLE_USERS if users is None else users).items()}
        self.redirect_uris = set(redirect_uris)
        self.app_scopes = None  # None: any scope may be requested; else a set (else 20027 page)
        self.permissions = set(FIELD_PERMISSIONS.values())
        self.next_user = None
        self.deny = False
        self.not_allowed = set()
        self.code_ttl = 300.0
        self.token_ttl = 7200
        self.refresh_ttl = 604800
        self.clock_offset = 0.0
        self.fail_next_token = None
        self.fail_next_user_info = None
        self.raw_next_token = None
        self.raw_next_user_info = None
        self.errors_with_http_200 = False
        self.codes = {}  # code -> record
        self.access_tokens = {}
        self.refresh_tokens = {}
        self.granted = {}  # open_id -> scopes granted so far (they add up)
        self.requests = []

    def now(self):
        return time.time() + self.clock_offset

    def advance(self, seconds):
        """Move the fake's clock forward (expire codes and tokens without sleeping)."""
        self.clock_offset += seconds

    def add_app(self, app_id, app_secret):
        self.apps[app_id] = app_secret

    def allow_redirect(self, uri):
        self.redirect_uris.add(uri)

    def is_allowed(self, open_id):
        return open_id not in self.not_allowed and self.users[open_id].get("allowed", True)


class _Base(tornado.web.RequestHandler):
    def initialize(self, state):
        self.state = state

    def prepare(self):
        r = self.request
        self.state.requests.append({
            "method": r.method, "path": r.path, "query": r.query,
            "headers": dict(r.headers), "body": r.body.decode("utf-8", "replace")})

    def set_default_headers(self):
        self.set_header("X-Tt-Logid", "fake" + secrets.token_hex(12))

    def send_json(self, status, payload):
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(payload))

    def send_raw(self, raw):
        status, content_type, body = raw
        self.set_status(status)
        self.set_header("Content-Type", content_type)
        self.finish(body)


class AuthorizeHandler(_Base):
    """The Feishu login + consent page; answers at once as the test decided."""

    def page_error(self, code, text):
        self.set_status(400)
        self.finish(f"<html><body><h1>Feishu</h1><p>Error {code}: "
                    f"{tornado.escape.xhtml_escape(text)}</p></body></html>")

    def get(self):
        st = self.state
        arg = self.get_query_argument
        client_id = arg("client_id", None) or arg("app_id", None)
        if client_id not in st.apps:
            return self.page_error(20048, "The app does not exist.")
        if arg("client_id", None) and arg("response_type", None) != "code":
            return self.page_error(20001, "response_type must be code.")
        redirect_uri = arg("redirect_uri", None)
        if not redirect_uri:
            return self.page_error(20001, "redirect_uri is missing.")
        if redirect_uri not in st.redirect_uris:
            return self.page_error(20029, "The redirect URL is not on the app's allowlist.")
        scopes = arg("scope", "").split()
        if len(scopes) > 50 or (st.app_scopes is not None and not set(scopes) <= st.app_scopes):
            return self.page_error(20027, "The app has not enabled the requested scope.")
        open_id = st.next_user or next(iter(st.users), None)
        if open_id not in st.users:
            return self.page_error(20008, "The user does not exist.")
        params = {}
        if st.deny:
            params["error"] = "access_denied"
        else:
            code = secrets.token_urlsafe(48)  # 64 chars of [A-Za-z0-9-_]
            granted = st.granted.setdefault(open_id, {"auth:user.id:read"})
            granted.update(scopes)
            st.codes[code] = {
                "client_id": client_id, "redirect_uri": redirect_uri, "open_id": open_id,
                "expires_at": st.now() + st.code_ttl, "used": False,
                "challenge": arg("code_challenge", None),
                "method": arg("code_challenge_method", "plain")}
            params["code"] = code
        if arg("state", None) is not None:
            params["state"] = arg("state")
        parts = urlsplit(redirect_uri)
        query = "&".join(filter(None, [parts.query, urlencode(params)]))
        self.redirect(urlunsplit(parts._replace(query=query)))


class TokenHandler(_Base):
    """``POST /open-apis/authen/v2/oauth/token`` (and ``/oauth/v3/token``)."""

    def initialize(self, state, version=2):
        super().initialize(state)
        self.version = version

    def fail(self, code):
        error, description = TOKEN_ERRORS.get(code, ("invalid_request", "Request failed."))
        status = {20050: 500, 20072: 503}.get(code, 400)
        self.send_json(200 if self.state.errors_with_http_200 else status,
                       {"code": code, "error": error, "error_description": description})

    def read_body(self):
        content_type = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        text = self.request.body.decode("utf-8", "replace")
        if content_type == "application/x-www-form-urlencoded":
            return {k: v[0] for k, v in parse_qs(text).items()}
        body = json.loads(text)  # ValueError -> 20063
        if not isinstance(body, dict):
            raise ValueError("not an object")
        return body

    def basic_auth(self):
        header = self.request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return ("", "")
        return (user, password)

    def post(self):
        st = self.state
        if st.raw_next_token is not None:
            raw, st.raw_next_token = st.raw_next_token, None
            return self.send_raw(raw)
        if st.fail_next_token is not None:
            code, st.fail_next_token = st.fail_next_token, None
            return self.fail(code)
        try:
            body = self.read_body()
        except ValueError:
            return self.fail(20063)
        basic = self.basic_auth()
        if basic and "client_secret" in body:
            return self.fail(20070)
        client_id, secret = basic or (body.get("client_id"), body.get("client_secret"))
        grant_type = body.get("grant_type")
        if not grant_type or not client_id or not secret:
            return self.fail(20001)
        if grant_type not in ("authorization_code", "refresh_token"):
            return self.fail(20036)
        if client_id not in st.apps:
            return self.fail(20048)
        if not secrets.compare_digest(str(secret), st.apps[client_id]):
            return self.fail(20002)
        if grant_type == "refresh_token":
            return self.refresh(body, client_id)
        return self.authorization_code(body, client_id)

    def authorization_code(self, body, client_id):
        st = self.state
        code, redirect_uri = body.get("code"), body.get("redirect_uri")
        if not code or not redirect_uri:
            return self.fail(20001)
        record = st.codes.get(code)
        if record is None:
            return self.fail(20003)
        if record["used"]:
            return self.fail(20065)
        if st.now() >= record["expires_at"]:
            return self.fail(20004)
        if record["client_id"] != client_id:
            return self.fail(20024)
        if record["redirect_uri"] != redirect_uri:
            return self.fail(20071)
        verifier = body.get("code_verifier")
        if record["challenge"] or (verifier and self.version == 3):
            if not verifier or not record["challenge"]:
                return self.fail(20049)
            digest = _b64(hashlib.sha256(verifier.encode()).digest())
            if (digest if record["method"] == "S256" else verifier) != record["challenge"]:
                return self.fail(20049)
        open_id = record["open_id"]
        if open_id not in st.users:
            return self.fail(20008)
        if not st.is_allowed(open_id):
            return self.fail(20010)
        if self.issue(client_id, open_id, body.get("scope"), st.granted.get(open_id, set())):
            record["used"] = True

    def refresh(self, body, client_id):
        st = self.state
        record = st.refresh_tokens.get(body.get("refresh_token") or "")
        if record is None:
            return self.fail(20026)
        if record["used"]:
            return self.fail(20073)
        if st.now() >= record["expires_at"]:
            return self.fail(20037)
        if record["client_id"] != client_id:
            return self.fail(20024)
        if self.issue(client_id, record["open_id"], body.get("scope"), record["scopes"]):
            record["used"] = True

    def issue(self, client_id, open_id, scope_arg, granted):
        """Send new tokens; False (after sending the error) if ``scope_arg`` is refused."""
        st = self.state
        scopes = set(granted)
        if scope_arg:
            wanted = scope_arg.split()
            if len(set(wanted)) != len(wanted) or not set(wanted) <= scopes:
                self.fail(20067 if len(set(wanted)) != len(wanted) else 20068)
                return False
            scopes = set(wanted)
        now = st.now()
        token = _jwt_like(sub=open_id, aud=client_id, exp=int(now + st.token_ttl))
        st.access_tokens[token] = {"open_id": open_id, "client_id": client_id,
                                   "expires_at": now + st.token_ttl, "scopes": scopes}
        reply = {"code": 0, "access_token": token, "expires_in": st.token_ttl,
                 "token_type": "Bearer", "scope": " ".join(sorted(scopes))}
        if "offline_access" in scopes:
            refresh = _jwt_like(sub=open_id, aud=client_id, typ="refresh")
            st.refresh_tokens[refresh] = {"open_id": open_id, "client_id": client_id, "used": False,
                                          "expires_at": now + st.refresh_ttl, "scopes": scopes}
            reply.update(refresh_token=refresh, refresh_token_expires_in=st.refresh_ttl)
        self.send_json(200, reply)
        return True


class UserInfoHandler(_Base):
    """``GET /open-apis/authen/v1/user_info`` with ``Authorization: Bearer <token>``."""

    def fail(self, code):
        status, msg = USER_INFO_ERRORS.get(code, (400, "error"))
        self.send_json(status, {"code": code, "msg": msg, "data": {}})

    def get(self):
        st = self.state
        if st.raw_next_user_info is not None:
            raw, st.raw_next_user_info = st.raw_next_user_info, None
            return self.send_raw(raw)
        if st.fail_next_user_info is not None:
            code, st.fail_next_user_info = st.fail_next_user_info, None
            return self.fail(code)
        header = self.request.headers.get("Authorization")
        if not header:
            return self.fail(99991661)
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token.strip():
            return self.fail(99991671)
        record = st.access_tokens.get(token.strip())
        if record is None:
            return self.fail(99991668)
        if st.now() >= record["expires_at"]:
            return self.fail(99991677)
        user = st.users.get(record["open_id"])
        if user is None:
            return self.fail(20008)
        data = {}
        for key in PROFILE_FIELDS:
            permission = FIELD_PERMISSIONS.get(key)
            if key in user and (permission is None or permission in st.permissions):
                data[key] = user[key]
        self.send_json(200, {"code": 0, "msg": "success", "data": data})


def make_fake_feishu(app_id, app_secret, users=None, redirect_uris=()):
    """Build the fake app and its state; ``users`` maps open_id -> profile dict."""
    state = FakeFeishuState(app_id, app_secret, users, redirect_uris)
    kw = {"state": state}
    app = tornado.web.Application([
        (r"/open-apis/authen/v1/authorize", AuthorizeHandler, kw),
        (r"/open-apis/authen/v1/index", AuthorizeHandler, kw),
        (r"/open-apis/authen/v2/oauth/token", TokenHandler, kw),
        (r"/oauth/v3/token", TokenHandler, dict(kw, version=3)),
        (r"/open-apis/authen/v1/user_info", UserInfoHandler, kw),
    ])
    return app, state
