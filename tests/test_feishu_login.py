"""The Feishu login policy (``toolbox.people.feishu_login``), driven without toolBox's HTTP.

``FeishuLogin`` talks to the fake Feishu (tests/fake_feishu.py) on 127.0.0.1; each test
starts a login with ``begin``, lets the fake answer its authorize page as the test set it
up, and hands what came back to ``finish``, as ``handlers/auth.py`` does.  The HTTP side
(cookies, pages, audit entries) is tests/test_auth_feishu.py's.
"""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from tornado.httpclient import AsyncHTTPClient

from tests.conftest import FEISHU_APP_ID, FEISHU_APP_SECRET
from toolbox.errors import RateLimited
from toolbox.people.feishu import FeishuClient
from toolbox.people.feishu_login import STATE_SECONDS, FeishuCallback, FeishuLogin, FeishuRules, LoginRefused
from toolbox.people.throttle import FailureThrottle
from toolbox.people.users import UserStore
from toolbox.store.repos.users import UserRepo

CALLBACK = "http://127.0.0.1:9/auth/feishu/callback"  # never fetched: the fake only redirects to it
ADDRESS = "192.0.2.7"


class Clock:
    def __init__(self):
        self.now = 1_900_000_000.0

    def __call__(self):
        return self.now


class Login:
    """A FeishuLogin on the test's database and the fake Feishu, and a way to go through Feishu."""

    def __init__(self, db, fake, rules=FeishuRules(), failures_allowed=100):
        fake.state.allow_redirect(CALLBACK)
        self.fake = fake
        self.clock = Clock()
        self.users = UserStore(UserRepo(db["users"]))
        self.guard = FailureThrottle(failures_allowed)
        client = FeishuClient(FEISHU_APP_ID, FEISHU_APP_SECRET, accounts_url=fake.url, open_url=fake.url)
        self.service = FeishuLogin(client, self.users, self.guard, rules, clock=self.clock)

    async def through_feishu(self, next_page="/"):
        """``begin``, then Feishu's authorize page → (what was kept, the callback's query)."""
        kept, url = self.service.begin(next_page, CALLBACK)
        response = await AsyncHTTPClient().fetch(url, follow_redirects=False, raise_error=False)
        assert response.code == 302, response.body[:200]
        assert response.headers["Location"].startswith(CALLBACK + "?")
        query = {key: values[0] for key, values in parse_qs(urlsplit(response.headers["Location"]).query).items()}
        return kept, query

    def callback(self, kept, query, /, **changes):
        fields = dict(kept=kept, state=query.get("state", ""), error=query.get("error"), code=query.get("code", ""),
                      redirect_uri=CALLBACK, address=ADDRESS)
        fields.update(changes)
        return FeishuCallback(**fields)

    async def log_in(self, user, next_page="/", **changes):
        self.fake.state.next_user = user
        kept, query = await self.through_feishu(next_page)
        return await self.service.finish(self.callback(kept, query, **changes))

    async def refused(self, user, **changes):
        with pytest.raises(LoginRefused) as refused:
            await self.log_in(user, **changes)
        return refused.value


@pytest.fixture
def login(db, fake_feishu, io_loop):
    made = Login(db, fake_feishu)
    io_loop.run_sync(made.users.start)
    return made


async def with_rules(db, fake, **rules):
    made = Login(db, fake, FeishuRules(**rules))
    await made.users.start()
    return made


@pytest.mark.gen_test
async def test_a_first_login_creates_the_user_with_the_default_role_and_returns_to_the_page(login):
    done = await login.log_in("ou_alice", next_page="/jobs/7")
    assert done.created and done.next == "/jobs/7"
    assert done.user["union_id"] == "on_alice" and done.user["role"] == "viewer"
    assert done.user["email"] == "alice@example.com" and done.user["tenant_key"] == "t1"
    again = await login.log_in("ou_alice")
    assert not again.created and again.user["_id"] == done.user["_id"]


@pytest.mark.gen_test
async def test_the_page_to_return_to_is_always_local(login):
    assert (await login.log_in("ou_alice", next_page="//evil.example/x")).next == "/"
    assert (await login.log_in("ou_alice", next_page="https://evil.example/")).next == "/"


@pytest.mark.gen_test
async def test_listed_union_ids_become_admins_at_first_login_and_later_changes_stick(db, fake_feishu):
    login = await with_rules(db, fake_feishu, admins=("ON_ALICE",), default_role="operator")
    alice = await login.log_in("ou_alice")
    bob = await login.log_in("ou_bob")
    assert (alice.user["role"], bob.user["role"]) == ("admin", "operator")
    await login.users.update(bob.user["_id"], role="admin")
    await login.users.update(alice.user["_id"], role="viewer")
    assert (await login.log_in("ou_alice")).user["role"] == "viewer"


@pytest.mark.gen_test
async def test_a_listed_email_counts_only_in_the_tenant_named_by_the_tenant_key(db, fake_feishu):
    without_key = FeishuRules(admins=("alice@corp.example.com",))
    assert "FEISHU_TENANT_KEY" in without_key.email_warning()
    assert FeishuRules(admins=("on_alice",)).email_warning() is None
    login = await with_rules(db, fake_feishu, admins=("alice@corp.example.com",))
    assert (await login.log_in("ou_alice")).user["role"] == "viewer"
    other = await with_rules(db, fake_feishu, admins=("Alice@Corp.example.com",), tenant_key="t1")
    assert (await other.log_in("ou_bob")).user["role"] == "viewer"
    await other.users.repo.collection.delete_many({})
    assert (await other.log_in("ou_alice")).user["role"] == "admin"


@pytest.mark.gen_test
async def test_another_organisation_is_refused_before_any_user_is_stored(db, fake_feishu):
    login = await with_rules(db, fake_feishu, tenant_key="t1")
    refused = await login.refused("ou_eve")
    assert (refused.status, refused.reason, refused.counted, refused.target) == (403, "wrong_tenant", False, "on_eve")
    assert refused.details == {"name": "Eve", "tenant_key": "t-other"}
    assert await login.users.repo.collection.count_documents({}) == 0


@pytest.mark.gen_test
async def test_a_disabled_user_is_refused_with_their_record(login):
    done = await login.log_in("ou_bob")
    await login.users.repo.set_fields(done.user["_id"], {"disabled": True})
    refused = await login.refused("ou_bob")
    assert (refused.status, refused.reason, refused.retry) == (403, "disabled", False)
    assert refused.user["_id"] == done.user["_id"]
    assert "disabled your account" in refused.message


@pytest.mark.gen_test
async def test_a_state_that_does_not_match_is_refused_and_counts_against_the_address(db, fake_feishu):
    login = Login(db, fake_feishu, failures_allowed=2)
    await login.users.start()
    kept, query = await login.through_feishu()
    for wrong in (dict(state="forged"), dict(state=""), dict(kept=None), dict(kept="{not json")):
        with pytest.raises(LoginRefused) as refused:
            await login.service.finish(login.callback(kept, query, **wrong))
        assert (refused.value.status, refused.value.reason, refused.value.counted) == (400, "unknown_state", True)
    with pytest.raises(RateLimited):
        login.guard.check(ADDRESS)
    login.guard.check("192.0.2.8")  # another address is not held back
    assert await login.users.repo.collection.count_documents({}) == 0


@pytest.mark.gen_test
async def test_a_login_that_takes_longer_than_the_state_lives_is_refused(login):
    login.fake.state.next_user = "ou_alice"
    kept, query = await login.through_feishu()
    assert json.loads(kept)["s"] == query["state"]
    login.clock.now += STATE_SECONDS + 1
    with pytest.raises(LoginRefused) as refused:
        await login.service.finish(login.callback(kept, query))
    assert refused.value.reason == "unknown_state"
    login.clock.now -= 2  # within its time the same answer logs in
    assert (await login.service.finish(login.callback(kept, query))).user["union_id"] == "on_alice"


@pytest.mark.gen_test
async def test_the_user_refusing_on_feishu_or_no_code_is_refused(login):
    login.fake.state.deny = True
    denied = await login.refused("ou_alice")
    assert (denied.status, denied.reason, denied.title) == (403, "denied", "Login cancelled")
    login.fake.state.deny = False
    other = await login.refused("ou_alice", error="server_error")
    assert (other.status, other.reason) == (400, "feishu_callback_error")
    missing = await login.refused("ou_alice", code="")
    assert (missing.status, missing.reason) == (400, "missing_code")


@pytest.mark.gen_test
async def test_feishu_refusing_the_code_is_refused_with_its_status_and_code(login):
    login.fake.state.next_user = "ou_alice"
    kept, query = await login.through_feishu()
    await login.service.finish(login.callback(kept, query))
    with pytest.raises(LoginRefused) as used_twice:
        await login.service.finish(login.callback(kept, query))
    assert (used_twice.value.status, used_twice.value.reason) == (400, "code_used")
    assert used_twice.value.details == {"feishu_error": 20065}
    login.fake.state.fail_next_token = 20050
    unavailable = await login.refused("ou_alice")
    assert unavailable.status == 502 and unavailable.details["feishu_error"] == 20050


def test_without_a_client_the_login_is_off(db):
    service = FeishuLogin(None, UserStore(UserRepo(db["users"])), FailureThrottle(5), FeishuRules())
    assert not service.enabled
    with pytest.raises(RuntimeError):
        service.begin("/", CALLBACK)
