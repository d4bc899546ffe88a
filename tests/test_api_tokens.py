"""Personal API tokens: create (shown once, stored hashed), use, expire, revoke, owner changes."""

import datetime
import hashlib
import json

import pytest

from toolbox import clock
from toolbox.people import api_tokens
from toolbox.store.repos.api_tokens import TokenRepo
from toolbox.people.api_tokens import TokenStore
from toolbox.core.events.hub import EventHub


async def create(api, session, **body):
    body.setdefault("name", "my script")
    return await api("/api/tokens", "POST", json=body, token=None, headers=session.headers)


@pytest.mark.gen_test
async def test_a_token_is_shown_once_stored_hashed_and_acts_as_its_owner(app, api, login_as):
    olga = await login_as("operator", name="olga")
    created = await create(api, olga, expires_in_days=30)
    assert created.code == 201
    token = created.json["token"]
    assert token.startswith("tbx_") and len(token) > 40
    assert created.json["name"] == "my script" and created.json["last_used_at"] is None
    expires = datetime.datetime.fromisoformat(created.json["expires_at"].replace("Z", "+00:00"))
    assert abs((expires - clock.utcnow()) - datetime.timedelta(days=30)) < datetime.timedelta(minutes=1)
    stored = await app.toolbox.parts.tokens.get(created.json["id"])
    assert stored["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps(stored, default=str)

    me = await api("/api/me", token=token)
    assert me.json["id"] == olga.user_id and me.json["role"] == "operator" and me.json["via"] == "token"
    assert (await api("/api/agents", token=token)).code == 200
    assert (await api("/api/users", token=token)).code == 403  # an operator's token is an operator
    listed = (await api("/api/tokens", token=None, headers=olga.headers)).json["items"]
    assert [t["id"] for t in listed] == [created.json["id"]]
    assert "token" not in listed[0] and "token_hash" not in listed[0] and listed[0]["last_used_at"]


@pytest.mark.gen_test
async def test_an_expired_token_stops_working(app, api, login_as, monkeypatch):
    olga = await login_as("viewer", name="olga")
    token = (await create(api, olga, expires_in_days=1)).json["token"]
    forever = (await create(api, olga, name="no expiry")).json
    assert forever["expires_at"] is None
    assert (await api("/api/me", token=token)).code == 200
    later = clock.utcnow() + datetime.timedelta(days=1, seconds=1)
    monkeypatch.setattr(api_tokens.clock, "utcnow", lambda: later)
    assert (await api("/api/me", token=token)).code == 401
    assert (await api("/api/me", token=forever["token"])).code == 200


@pytest.mark.gen_test
async def test_revocation_works_at_once_and_only_for_the_owner_or_an_admin(app, api, login_as):
    olga = await login_as("viewer", name="olga")
    bob = await login_as("viewer", name="bob")
    ada = await login_as("admin", name="ada")
    first, second = (await create(api, olga)).json, (await create(api, olga)).json
    assert (await api(f"/api/tokens/{first['id']}", "DELETE", token=None, headers=bob.headers)).code == 404
    assert (await api("/api/me", token=first["token"])).code == 200
    assert (await api(f"/api/tokens/{first['id']}", "DELETE", token=None, headers=olga.headers)).code == 200
    assert (await api("/api/me", token=first["token"])).code == 401
    assert (await api(f"/api/tokens/{first['id']}", "DELETE", token=None, headers=olga.headers)).code == 404
    # An admin may revoke anyone's.
    assert (await api(f"/api/tokens/{second['id']}", "DELETE", token=None, headers=ada.headers)).code == 200
    assert (await api("/api/me", token=second["token"])).code == 401
    assert (await api("/api/tokens", token=None, headers=olga.headers)).json["items"] == []


@pytest.mark.gen_test
async def test_a_token_follows_its_owners_role_and_status(app, api, login_as):
    ada = await login_as("admin", name="ada")
    await login_as("admin", name="bea")  # so ada is not the last admin
    token = (await create(api, ada)).json["token"]
    assert (await api("/api/users", token=token)).code == 200
    assert (await api(f"/api/users/{ada.user_id}", "PATCH", json={"role": "viewer"})).code == 200
    assert (await api("/api/users", token=token)).code == 403
    assert (await api("/api/agents", token=token)).code == 200
    assert (await api(f"/api/users/{ada.user_id}", "PATCH", json={"disabled": True})).code == 200
    reply = await api("/api/agents", token=token)
    assert reply.code == 403 and "disabled" in reply.json["error"]


@pytest.mark.gen_test
async def test_only_a_logged_in_person_creates_tokens(app, api, login_as):
    olga = await login_as("viewer", name="olga")
    token = (await create(api, olga)).json["token"]
    assert (await api("/api/tokens", "POST", json={"name": "x"})).code == 403  # the admin token
    assert (await api("/api/tokens", "POST", json={"name": "x"}, token=token)).code == 403
    assert (await api("/api/tokens")).code == 403
    assert (await api("/api/tokens", token=token)).code == 200


@pytest.mark.gen_test
async def test_token_requests_are_validated(app, api, login_as):
    olga = await login_as("viewer", name="olga")
    for body in ({}, {"name": ""}, {"name": "  "}, {"name": "x" * 101}, {"name": 3}, {"name": "a\nb"},
                 {"name": "x", "expires_in_days": 0}, {"name": "x", "expires_in_days": 3651},
                 {"name": "x", "expires_in_days": "soon"}, {"name": "x", "expires_in_days": True},
                 {"name": "x", "scope": "all"}):
        reply = await api("/api/tokens", "POST", json=body, token=None, headers=olga.headers)
        assert reply.code == 400, body
    assert (await create(api, olga, expires_in_days=3650)).code == 201
    for bad in ("tbx_" + "a" * 43, "tbx_", "x" * 500):
        assert (await api("/api/me", token=bad)).code == 401


@pytest.mark.gen_test
async def test_other_processes_see_new_tokens_and_revocations_within_the_refresh(db):
    """On MongoDB each process caches; a store in 'another process' shares only the database."""
    here = TokenStore(TokenRepo(db["api_tokens"]), EventHub(), authoritative=False, refresh=3600)
    there = TokenStore(TokenRepo(db["api_tokens"]), EventHub(), authoritative=False, refresh=0)
    await here.start()
    await there.start()
    doc, token = await here.create("u_1", api_tokens.TokenRequest("ci"))
    assert (await there.lookup(token))["_id"] == doc["_id"]
    cached = TokenStore(TokenRepo(db["api_tokens"]), EventHub(), authoritative=False, refresh=3600)
    assert (await cached.lookup(token))["_id"] == doc["_id"]
    await here.revoke(doc["_id"])
    assert await here.lookup(token) is None  # this process: at once
    assert await there.lookup(token) is None  # another, refresh 0: at its next lookup
    assert (await cached.lookup(token)) is not None  # another, within its refresh: still cached
    fresh = TokenStore(TokenRepo(db["api_tokens"]), EventHub(), authoritative=False, refresh=3600)
    assert await fresh.lookup(token) is None
