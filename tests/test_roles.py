"""Roles, users and XSRF: every /api/ route × viewer/operator/admin, user management rules.

The table below lists every route this branch serves; ``test_every_api_method_declares_a_role``
walks the real route table so a new endpoint cannot skip ``@require_role``.
"""

import re

import pytest

from toolbox.handlers import default_handlers
from toolbox.handlers.base import APIHandler
from toolbox.people.principals import ROLE_RANK, ROLES


# (method, path, body, least role, status for that role and above)
# "{role}" in a path or body is replaced by the caller's role, for routes that change state.
PING = {"tool": "ping", "params": {"target": "93.184.216.34"}, "agents": ["a1"]}
TABLE = [
    ("GET", "/api/tools", None, "viewer", 200),
    ("GET", "/api/jobs", None, "viewer", 200),
    ("POST", "/api/jobs", PING, "operator", 201),
    ("GET", "/api/jobs/{job}", None, "viewer", 200),
    ("POST", "/api/jobs/{job-{role}}/cancel", None, "operator", 200),
    ("GET", "/api/agents", None, "viewer", 200),
    ("POST", "/api/agents", {"name": "new-{role}"}, "admin", 201),
    ("GET", "/api/agents/a1", None, "viewer", 200),
    ("PATCH", "/api/agents/a1", {"tags": ["x"]}, "admin", 200),
    ("DELETE", "/api/agents/del-{role}", None, "admin", 200),
    ("POST", "/api/agents/a1/token", None, "admin", 200),
    ("GET", "/api/tasks", None, "viewer", 200),
    ("POST", "/api/tasks", {"agents": ["a1"], "command": "echo hi"}, "admin", 201),
    ("GET", "/api/tasks/{task}", None, "viewer", 200),
    ("POST", "/api/tasks/{cancel-{role}}/cancel", None, "admin", 200),
    ("GET", "/api/me", None, "viewer", 200),
    ("GET", "/api/users", None, "admin", 200),
    ("PATCH", "/api/users/{other}", {"role": "operator"}, "admin", 200),
    ("GET", "/api/tokens", None, "viewer", 200),
    ("POST", "/api/tokens", {"name": "script"}, "viewer", 201),
    ("DELETE", "/api/tokens/{token-{role}}", None, "viewer", 200),
    ("GET", "/api/audit", None, "admin", 200),
]


def fill(text, role, ids):
    text = text.replace("{role}", role)
    return re.sub(r"\{([a-z-]+)\}", lambda m: str(ids[m.group(1)]), text)


@pytest.mark.gen_test(timeout=30)
async def test_each_role_against_each_endpoint(app, api, login_as, make_agent):
    await make_agent("a1")
    sessions = {role: await login_as(role) for role in ROLES}
    ids = {"other": (await login_as("viewer", name="someone-else")).user_id}
    for role in ROLES:
        await make_agent(f"del-{role}")
        task = (await api("/api/tasks", "POST", json={"agents": ["a1"], "command": "true"})).json["items"][0]
        ids[f"cancel-{role}"] = task["task_id"]
        token = await api("/api/tokens", "POST", json={"name": "t"}, token=None, headers=sessions[role].headers)
        ids[f"token-{role}"] = token.json["id"]
        ids[f"job-{role}"] = (await api("/api/jobs", "POST", json=PING)).json["job_id"]
    ids["task"] = ids["cancel-viewer"]
    ids["job"] = ids["job-viewer"]
    for method, path, body, least, ok in TABLE:
        for role in ROLES:
            json_body = {k: (fill(v, role, ids) if isinstance(v, str) else v) for k, v in (body or {}).items()}
            reply = await api(fill(path, role, ids), method, json=json_body if body else None, token=None,
                              headers=sessions[role].headers)
            expected = ok if ROLE_RANK[role] >= ROLE_RANK[least] else 403
            assert reply.code == expected, (role, method, path, reply.json)
            if expected == 403:
                assert f"needs the {least} role" in reply.json["error"]


def api_routes():
    """(pattern, handler class) of every API handler in the real route table."""
    routes = []
    for route in default_handlers():
        pattern, handler = route[0], route[1]
        if isinstance(handler, type) and issubclass(handler, APIHandler):
            routes.append((pattern, handler))
    return routes


def sample_path(pattern):
    return re.sub(r"\(\?P<[a-z_]+>[^)]*\)", "x1", pattern).replace("\\", "")


def test_every_api_method_declares_a_role():
    methods = 0
    for pattern, handler in api_routes():
        for method in ("get", "post", "put", "patch", "delete"):
            function = getattr(handler, method, None)
            if function is None or function.__qualname__.startswith("RequestHandler."):
                continue
            methods += 1
            assert getattr(function, "required_role", None) in ROLE_RANK, (pattern, method)
    assert methods >= len(TABLE)


@pytest.mark.gen_test(timeout=30)
async def test_below_the_required_role_every_route_is_403_and_anonymous_is_401(app, api, login_as):
    """Generic: walks the route table, so routes added later are covered too."""
    sessions = {role: await login_as(role) for role in ROLES}
    for pattern, handler in api_routes():
        for method in ("get", "post", "put", "patch", "delete"):
            required = getattr(getattr(handler, method, None), "required_role", None)
            if required is None:
                continue
            path = sample_path(pattern)
            body = {} if method in ("post", "put", "patch") else None
            anonymous = await api(path, method.upper(), json=body, token=None)
            assert anonymous.code == 401, (method, path)
            for role in ROLES:
                if ROLE_RANK[role] < ROLE_RANK[required]:
                    reply = await api(path, method.upper(), json=body, token=None,
                                      headers=sessions[role].headers)
                    assert reply.code == 403, (role, method, path, reply.json)


# --- Users ---

@pytest.mark.gen_test
async def test_users_list_and_role_changes_apply_at_once_and_are_audited(app, api, login_as):
    admin = await login_as("admin", name="ada")
    olga = await login_as("viewer", name="olga")
    items = (await api("/api/users", token=None, headers=admin.headers)).json["items"]
    assert {u["name"] for u in items} == {"ada", "olga"}
    assert set(items[0]) >= {"id", "name", "email", "avatar_url", "role", "disabled", "created_at",
                             "last_login_at", "union_id"}
    assert (await api("/api/users", token=None, headers=olga.headers)).code == 403
    changed = await api(f"/api/users/{olga.user_id}", "PATCH", json={"role": "admin"}, token=None,
                        headers=admin.headers)
    assert changed.code == 200 and changed.json["role"] == "admin"
    assert (await api("/api/users", token=None, headers=olga.headers)).code == 200
    entry = (await app.toolbox.audit.list(action="user.role"))[0]
    assert entry["actor"] == "ada" and entry["target"] == olga.user_id
    assert entry["details"] == {"name": "olga", "previous": "viewer", "role": "admin"}
    disabled = await api(f"/api/users/{olga.user_id}", "PATCH", json={"disabled": True}, token=None,
                         headers=admin.headers)
    assert disabled.code == 200 and disabled.json["disabled"] is True
    assert (await api("/api/me", token=None, headers=olga.headers)).code == 403
    assert [e["target"] for e in await app.toolbox.audit.list(action="user.disable")] == [olga.user_id]


@pytest.mark.gen_test
async def test_the_last_enabled_admin_cannot_be_demoted_or_disabled(app, api, login_as):
    ada = await login_as("admin", name="ada")
    for change in ({"role": "operator"}, {"disabled": True}):
        reply = await api(f"/api/users/{ada.user_id}", "PATCH", json=change, token=None, headers=ada.headers)
        assert reply.code == 409 and "last enabled admin" in reply.json["error"]
        assert (await api(f"/api/users/{ada.user_id}", "PATCH", json=change)).code == 409  # nor by the token
    assert (await api("/api/users", token=None, headers=ada.headers)).code == 200  # unchanged
    bea = await login_as("admin", name="bea")
    assert (await api(f"/api/users/{ada.user_id}", "PATCH", json={"role": "viewer"}, token=None,
                      headers=ada.headers)).code == 200
    assert (await api(f"/api/users/{bea.user_id}", "PATCH", json={"disabled": True}, token=None,
                      headers=bea.headers)).code == 409
    assert not await app.toolbox.audit.list(action="user.disable")


@pytest.mark.gen_test
async def test_user_changes_are_validated(app, api, login_as):
    olga = await login_as("viewer", name="olga")
    for body in ({"role": "root"}, {"disabled": "yes"}, {"name": "x"}, [], {"role": None}):
        assert (await api(f"/api/users/{olga.user_id}", "PATCH", json=body)).code == 400, body
    assert (await api("/api/users/u_nobody", "PATCH", json={"role": "viewer"})).code == 404
    assert (await api("/api/users/" + "x" * 80, "PATCH", json={"role": "viewer"})).code == 404


@pytest.mark.gen_test
async def test_me_describes_the_caller(app, api, login_as):
    olga = await login_as("operator", name="olga")
    reply = await api("/api/me", token=None, headers=olga.headers)
    assert reply.json == {"id": olga.user_id, "name": "olga", "email": "olga@example.com",
                          "avatar_url": None, "role": "operator", "via": "session",
                          "roles": ["viewer", "operator", "admin"]}
    admin = (await api("/api/me")).json
    assert admin["role"] == "admin" and admin["via"] == "token" and admin["id"] is None
    assert (await api("/api/me", token=None)).code == 401


# --- Sessions ---

@pytest.mark.gen_test
async def test_forged_expired_or_foreign_session_cookies_are_refused(app, api, login_as):
    import jwt

    from toolbox.people import sessions

    olga = await login_as("viewer", name="olga")
    secret = app.toolbox.config.secret
    forged = [
        sessions.issue(olga.user_id, secret, 1, now=0)[0],  # expired in 1970
        sessions.issue(olga.user_id, "another-secret-" + "y" * 32, 1)[0],
        jwt.encode({"sub": olga.user_id, "exp": 2**40, "iat": 0, "sid": "s"}, None, algorithm="none"),
        jwt.encode({"sub": olga.user_id, "exp": 2**40}, secret, algorithm="HS256"),  # no sid
        sessions.issue("u_nobody", secret, 1)[0],
        "not-a-jwt",
    ]
    for token in forged:
        reply = await api("/api/me", token=None, headers={"Cookie": f"toolbox_session={token}"})
        assert reply.code == 401, token


# --- XSRF ---

@pytest.mark.gen_test
async def test_cookie_writes_need_the_xsrf_header_bearer_writes_do_not(app, api, login_as, http_client,
                                                                      base_url):
    ada = await login_as("admin", name="ada")
    page = await http_client.fetch(base_url + "/")
    assert any(c.startswith("_xsrf=") and "SameSite=Lax" in c for c in page.headers.get_list("Set-Cookie"))
    no_header = {k: v for k, v in ada.headers.items() if k != "X-XSRFToken"}
    refused = await api("/api/agents", "POST", json={"name": "x1"}, token=None, headers=no_header)
    assert refused.code == 403 and "_xsrf" in refused.json["error"]
    wrong = dict(ada.headers, **{"X-XSRFToken": "2|00000000|" + "0" * 32 + "|1"})
    assert (await api("/api/agents", "POST", json={"name": "x1"}, token=None, headers=wrong)).code == 403
    assert (await api("/api/agents", "POST", json={"name": "x1"}, token=None, headers=ada.headers)).code == 201
    # A bearer call needs no XSRF header, even with a stray session cookie.
    assert (await api("/api/agents", "POST", json={"name": "x2"}, headers=no_header)).code == 201
    assert (await api("/api/agents", "POST", json={"name": "x3"})).code == 201
    # Reads never need it.
    assert (await api("/api/agents", token=None, headers=no_header)).code == 200
    # A wrong bearer token never falls back to the cookie.
    assert (await api("/api/agents", token="wrong", headers=ada.headers)).code == 401
