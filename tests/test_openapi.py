"""The OpenAPI document: it describes exactly the live route table, and it is valid 3.1."""

import re

import pytest
from tornado import web

from toolbox.server.openapi import document

METHODS = ("get", "post", "put", "patch", "delete")


def live_operations(app):
    """{(openapi path, method)} of every route the application serves (static files aside)."""
    found = set()
    for rule in app.wildcard_router.rules:
        handler = rule.target
        if not isinstance(handler, type) or issubclass(handler, web.StaticFileHandler):
            continue
        pattern = rule.matcher.regex.pattern.rstrip("$")
        openapi_path = re.sub(r"\(\?P<([a-z_]+)>[^)]*\)", r"{\1}", pattern).replace("\\", "")
        for method in METHODS:
            function = getattr(handler, method, None)
            if function is not None and not function.__qualname__.startswith("RequestHandler."):
                found.add((openapi_path, method))
    return found


def documented_operations(doc):
    return {(p, m) for p, ops in doc["paths"].items() for m in ops if m in METHODS}


def test_every_route_is_documented_and_every_documented_operation_exists(app):
    live, documented = live_operations(app), documented_operations(document())
    assert live - documented == set(), "routes without an OpenAPI description"
    assert documented - live == set(), "described operations no route serves"


def test_the_document_is_valid_openapi_3_1():
    from jsonschema_rs import validator_for  # noqa: F401  (installed with schemathesis)
    import schemathesis

    schema = schemathesis.openapi.from_dict(document("http://127.0.0.1:1"))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(documented_operations(document()))


def test_every_operation_answers_errors_in_the_one_shape():
    doc = document()
    for route, ops in doc["paths"].items():
        for method, op in ops.items():
            assert "default" in op["responses"], (route, method)
            if route.startswith(("/api/", "/agent/")):
                assert op["responses"]["default"] == {"$ref": "#/components/responses/Error"}, (route, method)


@pytest.mark.gen_test
async def test_the_document_is_served_publicly(api):
    reply = await api("/api/openapi.json", token=None)
    assert reply.code == 200 and reply.json["openapi"] == "3.1.0"
    assert reply.json["servers"][0]["url"].startswith("http://")
