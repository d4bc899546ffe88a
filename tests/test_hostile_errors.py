"""One JSON error shape on every answer a program reads, sent the way a hostile client sends.

Unknown paths, Tornado's own refusals (malformed requests, bad lengths, unsupported
methods), websocket refusals before the upgrade and bodies on methods that take none:
``{"status": false, "error": "..."}`` with a JSON content type, never HTML, text, an empty
body or a dropped connection.
"""

import json

import pytest

from tests.conftest import ADMIN_TOKEN

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
WS = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
      "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", **ADMIN}


@pytest.mark.gen_test
async def test_unknown_paths_under_every_prefix_are_json_404(raw):
    for path in ("/api", "/api/", "/api/nope", "/agent", "/agent/nope", "/auth", "/auth/nope", "/nope",
                 "/api/tasks/1/nope", "/%ff", "/api/%00"):
        for method in ("GET", "POST", "DELETE"):
            reply = await raw.send(method, path, ADMIN)
            reply.assert_json_error(404)


@pytest.mark.gen_test
async def test_websocket_refusals_before_the_upgrade_are_json(raw):
    no_upgrade = await raw.send("GET", "/api/ws", ADMIN)
    no_upgrade.assert_json_error(400)
    not_upgrade = await raw.send("GET", "/api/ws", dict(WS, Connection="keep-alive"))
    not_upgrade.assert_json_error(400)
    cross_origin = await raw.send("GET", "/api/ws", dict(WS, Origin="http://evil.example"))
    assert "origin" in cross_origin.assert_json_error(403)["error"]
    old_version = await raw.send("GET", "/api/ws", dict(WS, **{"Sec-WebSocket-Version": "8"}))
    old_version.assert_json_error(426)
    assert old_version.headers["sec-websocket-version"] == "13"
    anonymous = await raw.send("GET", "/api/ws", {k: v for k, v in WS.items() if k != "Authorization"})
    anonymous.assert_json_error(401)
    same_origin = await raw.send("GET", "/api/ws", dict(WS, Origin="http://127.0.0.1"))
    assert same_origin.code == 101


@pytest.mark.gen_test
@pytest.mark.parametrize("headers", [
    {"Content-Length": "-5"}, {"Content-Length": "abc"}, {"Content-Length": "5, 6"},
    {"Content-Length": "99999999999999999999999"}, {"Transfer-Encoding": "gzip"},
    {"Transfer-Encoding": "chunked", "Content-Length": "4"},
])
async def test_bad_lengths_are_a_json_400(raw, headers):
    for path in ("/api/agents", "/agent/task", "/agent/new"):
        reply = await raw.send("POST", path, dict(ADMIN, **headers), b"{}", content_length=False)
        reply.assert_json_error(400)


@pytest.mark.gen_test
async def test_malformed_request_lines_and_headers_are_a_json_400(raw):
    for data in (b"GARBAGE\r\n\r\n", b"GET /api/tasks HTTP/9.9\r\nHost: x\r\n\r\n",
                 b"GET /api/tasks HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
                 b"GET /api/tasks HTTP/1.1\r\nHost: x\r\nX: \x00\r\n\r\n"):
        reply = await raw.request(data)
        reply.assert_json_error(400)


@pytest.mark.gen_test
async def test_a_body_too_large_for_any_endpoint_is_refused_as_json(raw):
    reply = await raw.send("POST", "/api/agents", dict(ADMIN, **{"Content-Length": str(1 << 40)}), b"{}",
                           content_length=False)
    data = reply.assert_json_error()
    assert reply.code in (400, 413), (reply.code, data)


@pytest.mark.gen_test
async def test_methods_without_a_handler_are_json_405(raw):
    for method, path in (("PUT", "/api/tasks"), ("DELETE", "/api/tools"), ("FOO", "/api/tasks"),
                         ("PATCH", "/agent/new"), ("OPTIONS", "/api/agents")):
        reply = await raw.send(method, path, ADMIN)
        assert reply.assert_json_error(405)["error"].startswith(f"method {method}")


@pytest.mark.gen_test
async def test_bodies_on_agent_task_methods_that_take_none(raw, make_agent, caplog):
    name, token = await make_agent("b-1")
    for method in ("PUT", "PATCH", "DELETE"):
        reply = await raw.send(method, "/agent/task", {"Authorization": token}, b'{"x": 1}')
        reply.assert_json_error(405)
    anonymous = await raw.send("GET", "/agent/task?agent_name=b-1", {}, b'{"x": 1}')
    anonymous.assert_json_error(401)
    empty = await raw.send("GET", "/agent/task?agent_name=b-1", {"Authorization": token}, b"x" * 70000,
                           timeout=15)
    assert empty.code == 200 and empty.json == {"task_id": 0, "command": ""}
    assert "AttributeError" not in caplog.text


@pytest.mark.gen_test
async def test_bodies_on_get_are_ignored(raw):
    reply = await raw.send("GET", "/api/tools", ADMIN, b'{"not": "read"}')
    assert reply.code == 200 and reply.json["items"]


@pytest.mark.gen_test
async def test_lone_surrogates_in_keys_and_values_answer_json(raw, api):
    for body in ('{"\\ud800": 1}', '{"name": "\\udfff"}', '{"name": "a", "tags": ["\\ud800"]}'):
        reply = await raw.send("POST", "/api/agents", dict(ADMIN, **{"Content-Type": "application/json"}),
                               body.encode())
        data = reply.assert_json_error(400)
        json.dumps(data).encode()  # what came back is plain, storable text
    assert (await api("/api/agents")).json["items"] == []


@pytest.mark.gen_test
async def test_invalid_utf8_and_malformed_json_bodies_are_json_400(raw):
    for body in (b"\xff\xfe{", b'{"name": "\xc3"}', b"{", b"[]", b"null", b'"x"', b"{" * 100000,
                 b'{"name": "a"} trailing', b"\x00"):
        for path in ("/api/agents", "/api/tasks", "/api/jobs", "/agent/new"):
            reply = await raw.send("POST", path, dict(ADMIN, **{"Content-Type": "application/json"}), body)
            reply.assert_json_error(413 if len(body) > 64 * 1024 and path == "/agent/new" else 400)
