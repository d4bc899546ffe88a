"""Every endpoint of the OpenAPI document, sent what a hostile client sends, over raw sockets.

Malformed JSON, invalid UTF-8, lone surrogates, duplicate and unknown fields, each field
of the wrong type, huge values and bodies, deep nesting, non-ASCII digits, repeated and
huge query parameters, bodies on GET.  Whatever the answer, it is never a 5xx, an
``/api`` or ``/agent`` refusal is the one JSON error shape, and the server logs no
traceback (the ``no_server_tracebacks`` fixture).
"""

import json
import urllib.parse

import pytest

from tests.conftest import ADMIN_TOKEN
from toolbox.server.openapi import document

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
SAMPLES = {"task_id": "1", "job_id": "1", "name": "ev-1", "token_id": "tok_0", "user_id": "local-admin"}
WRONG_VALUES = [None, True, 1.5, -1, 2**70, "x", "", [], {}, ["x"] * 3, {"a": 1}, "١", "\udfff", "x" * 100_000]


def operations():
    for route, ops in document()["paths"].items():
        for method, op in ops.items():
            yield route, method.upper(), op


def target(route):
    for name, value in SAMPLES.items():
        route = route.replace("{" + name + "}", value)
    return route


def body_properties(op):
    schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if "$ref" in schema:
        schema = document()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return list(schema.get("properties", {}))


def hostile_bodies(op):
    yield b"{"
    yield b"\xff\xfe\x00{"
    yield b'{"\\ud800": "\\udfff"}'
    yield b'{"name": "a", "name": "b", "task_id": 1, "task_id": 2}'
    yield b'{"zzz_unknown": 1}'
    yield b"[" * 50_000 + b"]" * 50_000
    yield b'{"x": "' + b"y" * (2 * 1024 * 1024) + b'"}'
    yield b"null"
    yield b'"\\ud800"'
    for name in body_properties(op):
        for value in WRONG_VALUES:
            yield json.dumps({name: value}, ensure_ascii=True).encode()


def hostile_queries(op):
    names = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"] or ["limit"]
    for name in names:
        for value in ("١", "²", "9" * 5000, "-1", "", "\udfff", "x" * 20_000):
            yield f"{name}={urllib.parse.quote(value, safe='', errors='surrogatepass')}"
        yield f"{name}=1&{name}=2&{name}=" + "3" * 30
    yield "&".join(f"p{n}={n}" for n in range(2000))


def check(route, method, reply):
    assert reply.code is not None and reply.code < 500, (method, route, reply.code, reply.body[:200])
    if route.startswith(("/api/", "/agent/")) and reply.code >= 400:
        reply.assert_json_error()


@pytest.mark.gen_test(timeout=120)
async def test_every_endpoint_with_hostile_bodies(raw, make_agent):
    await make_agent("ev-1")
    for route, method, op in operations():
        if method not in ("POST", "PATCH", "PUT", "DELETE"):
            continue
        for body in hostile_bodies(op):
            reply = await raw.send(method, target(route), ADMIN, body)
            check(route, method, reply)


@pytest.mark.gen_test(timeout=120)
async def test_every_endpoint_with_hostile_queries_and_bodies_on_get(raw, make_agent):
    await make_agent("ev-1")
    for route, method, op in operations():
        for query in hostile_queries(op):
            reply = await raw.send(method, f"{target(route)}?{query}", ADMIN, b'{"on": "a GET"}', timeout=15)
            check(route, method, reply)


@pytest.mark.gen_test(timeout=60)
async def test_every_endpoint_with_odd_path_segments(raw):
    odd = ["²", "①", "١", "１", "9" * 5000, "%ff", "%00", "..", "%2e%2e", "a" * 5000, "%ed%a0%80"]
    for route, method, _op in operations():
        if "{" not in route:
            continue
        for segment in odd:
            path = route
            for name in SAMPLES:
                path = path.replace("{" + name + "}", urllib.parse.quote(segment, safe="%"))
            reply = await raw.send(method, path, ADMIN, b"{}" if method != "GET" else b"")
            check(route, method, reply)
            assert reply.code in (400, 401, 403, 404, 405, 409, 413), (method, path[:80], reply.code)
