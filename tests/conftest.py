"""Shared fixtures.

- ``config``: a test Config (short poll timeout, fast sweeper, fixed admin token);
  tests change it with ``@pytest.mark.config(poll_timeout=0.5, ...)``.
- ``db``: a fresh database per test: in-memory, or a throw-away database on the real
  MongoDB named by ``TOOLBOX_TEST_MONGODB_URI``.
- ``app``: a fresh toolBox application per test, started (pytest-tornado serves it
  and provides ``http_client``, ``base_url`` and ``io_loop``).
- ``api``: ``await api(path, method=, json=, token=, headers=, body=)`` → ``Reply``
  with ``.code``, ``.json``, ``.headers``; asserts every reply is JSON.
- ``make_agent``: ``await make_agent("name", tags=[...])`` → (name, token) via the API.
"""

import dataclasses
import json as jsonlib
import os
import uuid

import pytest
from tornado.httpclient import HTTPRequest

from toolbox.config import Config
from toolbox.db import open_database

ADMIN_TOKEN = "test-admin-token-0123456789"

# A fixed pool of ports is not needed: pytest-tornado binds an unused port per test.


def pytest_configure(config):
    config.addinivalue_line("markers", "config(**settings): override the test Config")


@pytest.fixture
def config(request):
    marker = request.node.get_closest_marker("config")
    overrides = dict(marker.kwargs) if marker else {}
    base = Config(poll_timeout=2.0, sweep_interval=0.1, admin_token=ADMIN_TOKEN,
                  secret="test-secret-" + "x" * 32, id_block=5)
    return dataclasses.replace(base, **overrides)


@pytest.fixture
def db(io_loop):
    uri = os.environ.get("TOOLBOX_TEST_MONGODB_URI")
    database = open_database(uri, name=f"toolbox_test_{uuid.uuid4().hex[:12]}" if uri else None)
    yield database
    if uri:
        io_loop.run_sync(database.drop)
    database.close()


@pytest.fixture
def app(io_loop, config, db):
    from toolbox.app import make_app

    application = make_app(config, db=db)
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
def make_agent(api):
    async def create(name, tags=None, platform="linux"):
        body = {"name": name, "platform": platform}
        if tags is not None:
            body["tags"] = tags
        reply = await api("/api/agents", "POST", json=body)
        assert reply.code == 201, reply.json
        return name, reply.json["token"]

    return create
