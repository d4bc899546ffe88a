"""Shared fixtures.

- ``no_server_tracebacks`` (autouse): fails the test during which the server logged a
  traceback (a record with exception info, or "Traceback" in its text).
- ``config``: a test Config (short poll timeout, fast sweeper, fixed admin token);
  tests change it with ``@pytest.mark.config(poll_timeout=0.5, ...)``.
- ``db``: a fresh database per test: in-memory, or a throw-away database on the real
  MongoDB named by ``TOOLBOX_TEST_MONGODB_URI``.  A test that needs a database object
  made for it (one that fails, one that counts) names a function of that database with
  ``@pytest.mark.parametrize("db", [function], indirect=True)``; the app is built over
  what it returns.
- ``app``: a fresh toolBox application per test, started (pytest-tornado serves it
  and provides ``http_client``, ``base_url`` and ``io_loop``).
- ``api``: ``await api(path, method=, json=, token=, headers=, body=)`` → ``Reply``
  with ``.code``, ``.json``, ``.headers``; asserts every reply is JSON.
- ``raw``: the hostile client of ``tests/raw_http.py`` aimed at the test server:
  ``await raw.send(method, target, headers, body)``, ``await raw.request(bytes)`` → ``RawReply``.
- ``make_agent``: ``await make_agent("name", tags=[...])`` → (name, token) via the API.
- ``fake_agent``: ``await fake_agent("name", tags=[...])`` → a ``FakeAgent`` of a new agent
  (tests/jobs_helpers.py: the in-process tests' one way to act as an agent).
- ``fake_feishu``: the fake Feishu server (tests/fake_feishu.py) on its own port →
  ``FakeFeishu`` (``.state``, ``.url``, ``.app_id``, ``.app_secret``).  A test marked
  ``@pytest.mark.config(feishu=True, ...)`` gets a config pointing at it (public_url = the
  app's base_url, whose callback the fake allows).
- ``browser``: a cookie-keeping client that does not follow redirects:
  ``await browser.get(path_or_url)``, ``await browser.post(path, json=)`` (sends the
  ``_xsrf`` header when it has the cookie), ``await browser.feishu_login(next=)``.
- ``login_as``: ``await login_as("operator", name="Olga")`` → ``Session`` (``.user_id``,
  ``.headers``: session cookie + ``_xsrf`` cookie + ``X-XSRFToken``); use it as
  ``await api(path, token=None, headers=session.headers)``.
- ``mongodb_wire_uri`` (session): a MongoDB-wire server for tests that need one shared by
  several server processes: ``TOOLBOX_TEST_MONGODB_URI`` if set, else a SecantusDB server
  started from ``TOOLBOX_TEST_SECANTUSD`` (tox provides it, see tox.ini) on a free port;
  skipped when neither is there.
- ``role_tokens``: real users with roles (tests/role_tokens.py) and an API token each →
  ``{name: bearer token}``.
- ``chromium`` (browser tests): Debian's Chromium through Playwright; ``processes``: a list
  to append started ``ServerProcess``/``AgentProcess`` to, stopped (last first) afterwards.
"""

import dataclasses
import http.cookies
import json as jsonlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from urllib.parse import urljoin, urlsplit

import pytest
import tornado.httpserver
import tornado.testing
from tornado.httpclient import HTTPRequest

from tests.fake_feishu import make_fake_feishu
from tests.jobs_helpers import FakeAgent
from tests.processes import CHROMIUM
from tests.role_tokens import ROLES as ROLE_TOKEN_USERS

from toolbox.people.api_tokens import TokenRequest
from toolbox.people.feishu import FeishuProfile
from toolbox.server.config import Config
from toolbox.store.db import open_database

ADMIN_TOKEN = "test-admin-token-0123456789"
FEISHU_APP_ID = "cli_test0123456789ab"
FEISHU_APP_SECRET = "feishu-test-secret-XYZ0123456789"
FEISHU_USERS = {
    "ou_alice": {"name": "Alice", "en_name": "Alice A", "union_id": "on_alice", "user_id": "a1",
                 "email": "alice@example.com", "enterprise_email": "alice@corp.example.com",
                 "tenant_key": "t1", "avatar_url": "https://img.example/alice"},
    "ou_bob": {"name": "Bob", "en_name": "Bob", "union_id": "on_bob", "tenant_key": "t1"},
    "ou_eve": {"name": "Eve", "union_id": "on_eve", "tenant_key": "t-other", "email": "eve@other.example"},
}

# Leaked sockets fail the file that leaked them, with where they were made.
pytest_plugins = ["tests.socket_leaks"]

# A fixed pool of ports is not needed: pytest-tornado binds an unused port per test.


def pytest_configure(config):
    config.addinivalue_line("markers", "config(**settings): override the test Config")
    config.addinivalue_line("markers", "embedded_only(reason): a test of the embedded database's in-memory "
                                       "parts; skipped when the suite runs on a MongoDB (the reason says where "
                                       "the shared parts are tested)")
    config.addinivalue_line("markers", "not_the_server_log(reason): what these tests log is not a toolBox "
                            "server's (no traceback check)")
    config.addinivalue_line("markers", "database: the test's database is the suite's (embedded, or the MongoDB "
                                       "of TOOLBOX_TEST_MONGODB_URI); added by pytest_collection_modifyitems, "
                                       "tox -e mongo runs these only")
    config.addinivalue_line("markers", "one_python(reason): what the test checks does not change with the "
                                       "Python version (the reason says why); py310 and py313 leave it out")


def uses_the_suites_database(item):
    """Whether the test runs on the database the suite was given: its fixtures include
    ``db`` or ``http_server`` (in-process: ``app`` is built on ``db``; pytest-tornado's
    ``http_server`` serves ``app`` without naming it as a fixture), or its module
    starts ``toolbox`` processes (``ServerProcess`` gives each one a database on
    ``TOOLBOX_TEST_MONGODB_URI``).  A test that asks for ``mongodb_wire_uri`` chooses its
    database itself (a SecantusDB in every env), so the mongo env would only repeat it."""
    from tests.processes import ServerProcess

    names = getattr(item, "fixturenames", ())
    if "mongodb_wire_uri" in names:
        return False
    module = getattr(item, "module", None)
    starts_servers = module is not None and any(value is ServerProcess for value in vars(module).values())
    return "db" in names or "http_server" in names or starts_servers


# Test files whose every test is one_python, with the reason.  The rest of the suite runs
# on every Python: the server and the reference agent run on whatever Python a user
# has, and even the parsers and target checks meet version changes (3.13's ipaddress
# writes IPv4-mapped IPv6 addresses differently, see toolbox/tools/targets.py).
ONE_PYTHON = {
    "test_bench_quick.py": "the benchmark harness, a developer's tool; the servers it measures are tested "
                           "on every Python",
    "test_field_commands.py": "what the installed ping, traceroute, mtr, dig, curl and nc print; the parsers "
                              "that read it run on every Python (test_parsers.py, test_outcomes.py)",
    "test_shared_database.py": "two toolbox processes agreeing through one SecantusDB (their own, in every "
                               "env); the code on either side runs on every Python in process",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if uses_the_suites_database(item):
            item.add_marker(pytest.mark.database)
        reason = ONE_PYTHON.get(item.path.name)
        if reason:
            item.add_marker(pytest.mark.one_python(reason))


def pytest_runtest_setup(item):
    marker = item.get_closest_marker("embedded_only")
    if marker and os.environ.get("TOOLBOX_TEST_MONGODB_URI"):
        pytest.skip(marker.args[0] if marker.args else "embedded database only")


class TracebackCatcher(logging.Handler):
    """Keeps every log record that carries a traceback."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.caught = []

    def emit(self, record):
        if record.exc_info or "Traceback (most recent call last)" in record.getMessage():
            self.caught.append(f"{record.name}: {record.getMessage()}\n{logging.Formatter().formatException(record.exc_info) if record.exc_info else ''}")


@pytest.fixture(autouse=True)
def no_server_tracebacks(request):
    if request.node.get_closest_marker("not_the_server_log"):
        yield None
        return
    catcher = TracebackCatcher()
    root = logging.getLogger()
    root.addHandler(catcher)
    yield catcher
    root.removeHandler(catcher)
    if catcher.caught:
        pytest.fail("the server logged a traceback:\n" + "\n".join(catcher.caught[:3]), pytrace=False)


@pytest.fixture
def config(request):
    marker = request.node.get_closest_marker("config")
    overrides = dict(marker.kwargs) if marker else {}
    if overrides.pop("feishu", False):
        fake = request.getfixturevalue("fake_feishu")
        base = request.getfixturevalue("base_url")
        fake.state.allow_redirect(base + "/auth/feishu/callback")
        overrides = dict(feishu_app_id=fake.app_id, feishu_app_secret=fake.app_secret,
                         feishu_accounts_url=fake.url, feishu_open_url=fake.url, public_url=base,
                         **overrides)
    base = Config(poll_timeout=2.0, sweep_interval=0.1, admin_token=ADMIN_TOKEN,
                  secret="test-secret-" + "x" * 32, id_block=5)
    return dataclasses.replace(base, **overrides)


def _secantus_binary():
    binary = os.environ.get("TOOLBOX_TEST_SECANTUSD") or shutil.which("secantusd-py")
    return binary if binary and os.path.exists(binary) else None


def start_secantus(binary):
    """Start a SecantusDB server on a free port; (process, log file, URI)."""
    sock, port = tornado.testing.bind_unused_port()
    sock.close()
    log = open(os.path.join(tempfile.gettempdir(), f"secantusd-{port}.log"), "w")
    server = subprocess.Popen([binary, "--host", "127.0.0.1", "--port", str(port), "--storage-path", ":memory:",
                               "--log-level", "WARNING"], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, log, f"mongodb://127.0.0.1:{port}/"
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(f"secantusd did not start (see {log.name})") from None
            time.sleep(0.1)


def stop_secantus(server, log):
    server.terminate()
    try:
        server.wait(20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


_SUITE_SERVER = []


def tolerate_driver_sockets(config, uri):
    """Once in a CI run (1 of 1,225 tests) a socket to the test database was left to the
    garbage collector after its client had been closed; only the driver talks to that
    port, and PyMongo's own test suite meets the same warnings (PYTHON-3923, unresolved).
    With ``filterwarnings = error`` that ResourceWarning fails whichever test happens to
    be running.  Only sockets to this database's port are let through: every other
    unclosed socket (to a toolBox server, the fake Feishu, an agent) still fails."""
    port = urlsplit(uri).port
    if port:
        config.addinivalue_line(
            "filterwarnings",
            rf"ignore:unclosed <socket\.socket .*raddr=\('127\.0\.0\.1', {port}\)>:ResourceWarning")


def pytest_sessionstart(session):
    """``TOOLBOX_TEST_MONGODB=secantus`` (``tox -e mongo``): the whole suite on a SecantusDB
    server started here, as if ``TOOLBOX_TEST_MONGODB_URI`` pointed at it."""
    if os.environ.get("TOOLBOX_TEST_MONGODB") == "secantus" and not os.environ.get("TOOLBOX_TEST_MONGODB_URI"):
        binary = _secantus_binary()
        if binary is None:
            raise pytest.UsageError("TOOLBOX_TEST_MONGODB=secantus, but no secantusd-py (TOOLBOX_TEST_SECANTUSD)")
        server, log, uri = start_secantus(binary)
        _SUITE_SERVER.append((server, log))
        os.environ["TOOLBOX_TEST_MONGODB_URI"] = uri
    if os.environ.get("TOOLBOX_TEST_MONGODB_URI"):
        tolerate_driver_sockets(session.config, os.environ["TOOLBOX_TEST_MONGODB_URI"])


def pytest_sessionfinish(session):
    while _SUITE_SERVER:
        stop_secantus(*_SUITE_SERVER.pop())


@pytest.fixture(scope="session")
def mongodb_wire_uri(pytestconfig):
    uri = os.environ.get("TOOLBOX_TEST_MONGODB_URI")
    if uri:
        yield uri
        return
    binary = _secantus_binary()
    if binary is None:
        pytest.skip("no MongoDB-wire server: set TOOLBOX_TEST_MONGODB_URI or TOOLBOX_TEST_SECANTUSD (tox does)")
    server, log, uri = start_secantus(binary)
    tolerate_driver_sockets(pytestconfig, uri)
    try:
        yield uri
    finally:
        stop_secantus(server, log)


@pytest.fixture
def db(request, io_loop):
    uri = os.environ.get("TOOLBOX_TEST_MONGODB_URI")
    database = open_database(uri, name=f"toolbox_test_{uuid.uuid4().hex[:12]}" if uri else None)
    made_for_the_test = getattr(request, "param", None)
    yield made_for_the_test(database) if made_for_the_test else database
    if uri:
        io_loop.run_sync(database.drop)
    database.close()


@pytest.fixture
def limits_clock():
    """The in-memory job rate limits' clock; a test that moves time gives its own with
    ``@pytest.mark.parametrize("limits_clock", [FakeClock()])``."""
    return time.monotonic


@pytest.fixture
def resolver():
    """The private-target check's name lookup: None (getaddrinfo); a test gives its own,
    ``async def lookup(host) -> [addresses]``, with ``@pytest.mark.parametrize("resolver", [...])``."""
    return None


@pytest.fixture
def watch_clock():
    """The schedules' wall clock (None: the real one); a test that moves time gives its own
    (``tests.schedules_helpers.WallClock``) with ``@pytest.mark.parametrize("watch_clock", [...])``."""
    return None


@pytest.fixture
def app(io_loop, config, db, limits_clock, resolver, watch_clock):
    from toolbox.handlers import routes
    from toolbox.server.app import make_app

    application = make_app(config, db=db, limits_clock=limits_clock, resolver=resolver, watch_clock=watch_clock,
                           routes=routes())
    io_loop.run_sync(application.toolbox.start)
    yield application
    io_loop.run_sync(application.toolbox.stop)


@dataclasses.dataclass
class Reply:
    code: int
    json: object
    headers: object
    body: bytes


@pytest.fixture
def api(http_client, base_url):
    async def fetch(path, method="GET", json=None, token=ADMIN_TOKEN, headers=None, body=None,
                    request_timeout=20, expect_json=True):
        all_headers = dict(headers or {})
        if token is not None:
            all_headers.setdefault("Authorization", f"Bearer {token}")
        if json is not None:
            body = jsonlib.dumps(json)
            all_headers.setdefault("Content-Type", "application/json")
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        request = HTTPRequest(base_url + path, method=method, headers=all_headers, body=body,
                              request_timeout=request_timeout, allow_nonstandard_methods=True)
        response = await http_client.fetch(request, raise_error=False)
        if response.code == 599:
            raise response.error
        data = None
        if expect_json:
            assert response.headers.get("Content-Type", "").startswith("application/json"), \
                (response.code, response.body[:200])
            data = jsonlib.loads(response.body)
            if response.code >= 400:
                assert data["status"] is False and isinstance(data["error"], str) and data["error"]
        return Reply(response.code, data, response.headers, response.body)

    return fetch


@pytest.fixture
def raw(http_server, base_url):
    from tests import raw_http

    class Raw:
        url = base_url

        async def send(self, method, target, headers=None, body=b"", timeout=10.0, **options):
            data = raw_http.request_bytes(method, target, headers, body, **options)
            return await raw_http.raw_request(base_url, data, timeout=timeout)

        async def request(self, data, **options):
            return await raw_http.raw_request(base_url, data, **options)

    return Raw()


@pytest.fixture
def make_agent(api):
    async def create(name, tags=None, platform="linux"):
        body = {"name": name, "platform": platform}
        if tags is not None:
            body["tags"] = tags
        reply = await api("/api/agents", "POST", json=body)
        assert reply.code == 201, reply.json
        return name, reply.json["token"]

    return create


@pytest.fixture
def fake_agent(api, make_agent):
    async def create(name, tags=None, platform="linux"):
        return FakeAgent(api, *await make_agent(name, tags=tags, platform=platform))

    return create


@dataclasses.dataclass
class FakeFeishu:
    state: object
    url: str
    app_id: str = FEISHU_APP_ID
    app_secret: str = FEISHU_APP_SECRET


@pytest.fixture
def fake_feishu(io_loop):
    fake_app, state = make_fake_feishu(FEISHU_APP_ID, FEISHU_APP_SECRET, users=FEISHU_USERS)
    sock, port = tornado.testing.bind_unused_port()
    server = tornado.httpserver.HTTPServer(fake_app)
    server.add_sockets([sock])
    yield FakeFeishu(state, f"http://127.0.0.1:{port}")
    server.stop()
    io_loop.run_sync(server.close_all_connections)


class Browser:
    """Keeps cookies like a browser; never follows redirects (tests look at each hop)."""

    def __init__(self, http_client, base_url):
        self.http_client, self.base_url = http_client, base_url
        self.cookies = {}
        self.history = []

    def cookie_header(self):
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    async def fetch(self, url, method="GET", body=None, headers=None):
        url = urljoin(self.base_url + "/", url)
        all_headers = dict(headers or {})
        if url.startswith(self.base_url) and self.cookies:
            all_headers["Cookie"] = self.cookie_header()
        request = HTTPRequest(url, method=method, headers=all_headers, body=body, follow_redirects=False,
                              request_timeout=20)
        response = await self.http_client.fetch(request, raise_error=False)
        if response.code == 599:
            raise response.error
        self.history.append(response)
        if url.startswith(self.base_url):
            for line in response.headers.get_list("Set-Cookie"):
                for name, morsel in http.cookies.SimpleCookie(line).items():
                    gone = not morsel.value or morsel["max-age"] == "0"  # clear_cookie
                    if gone:
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = morsel.value
        return response

    async def get(self, url, headers=None):
        return await self.fetch(url, headers=headers)

    async def post(self, url, json=None, headers=None, xsrf=True):
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if xsrf and "_xsrf" in self.cookies:
            all_headers.setdefault("X-XSRFToken", self.cookies["_xsrf"])
        return await self.fetch(url, "POST", body=jsonlib.dumps(json or {}), headers=all_headers)

    async def feishu_login(self, next=None):
        """Log in through the fake Feishu → the callback's response (302 on success)."""
        start = "/auth/feishu/login" + (f"?next={next}" if next is not None else "")
        login = await self.get(start)
        assert login.code == 302, login.body[:300]
        authorize = await self.get(login.headers["Location"])
        assert authorize.code == 302, authorize.body[:300]
        return await self.get(authorize.headers["Location"])


@pytest.fixture
def browser(http_client, base_url):
    return Browser(http_client, base_url)


@dataclasses.dataclass
class Session:
    user_id: str
    headers: dict
    session_cookie: str
    xsrf: str


@pytest.fixture
def login_as(app, http_client, base_url):
    from toolbox.people import sessions
    from toolbox.people.feishu import FeishuProfile

    async def login(role, name=None):
        name = name or f"{role}-{uuid.uuid4().hex[:6]}"
        profile = FeishuProfile(union_id=f"on_{name}", open_id=f"ou_{name}", tenant_key="t1", name=name,
                                email=f"{name}@example.com")
        doc, _ = await app.toolbox.users.upsert_feishu(profile, role)
        await app.toolbox.users.repo.set_fields(doc["_id"], {"role": role})
        token, _ = sessions.issue(doc["_id"], app.toolbox.config.secret, 1)
        page = await http_client.fetch(base_url + "/", raise_error=False)
        xsrf = http.cookies.SimpleCookie(page.headers.get_list("Set-Cookie")[0])["_xsrf"].value
        headers = {"Cookie": f"{sessions.SESSION_COOKIE}={token}; _xsrf={xsrf}", "X-XSRFToken": xsrf}
        return Session(doc["_id"], headers, token, xsrf)

    return login


# --- Users with roles, and the browser tests' Chromium and processes ---


@pytest.fixture
def role_tokens(app, io_loop):
    """A real user and API token per name in tests/role_tokens.py → {name: bearer token}."""
    async def create():
        tokens = {}
        for name, role in ROLE_TOKEN_USERS.items():
            profile = FeishuProfile(union_id=f"on_{name}", open_id=f"ou_{name}", tenant_key="t1",
                                    name=name, email=f"{name}@example.com")
            user, _ = await app.toolbox.users.upsert_feishu(profile, role)
            await app.toolbox.users.update(user["_id"], role=role)
            _, tokens[name] = await app.toolbox.tokens.create(user["_id"], TokenRequest("tests"))
        return tokens

    return io_loop.run_sync(create)


@pytest.fixture
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


@pytest.fixture
def processes():
    started = []
    yield started
    for process in reversed(started):
        process.stop()
