"""GET /api/tools: the tool catalogue, readable by viewers."""

import pytest

from tests.role_tokens import VIEWER
from toolbox.tools.catalogue import describe_tools


@pytest.mark.gen_test
async def test_viewers_read_the_tool_catalogue(api, role_tokens):
    reply = await api("/api/tools", token=role_tokens[VIEWER])
    assert reply.code == 200
    assert reply.json == {"items": describe_tools()}
    tools = {tool["name"]: tool for tool in reply.json["items"]}
    assert set(tools) == {"ping", "traceroute", "mtr", "dig", "curl", "tcp"}
    assert tools["mtr"]["platforms"] == ["linux"]
    assert tools["ping"]["platforms"] == ["linux", "windows"]
    target = tools["ping"]["params"][0]
    assert target["name"] == "target" and target["required"] is True and target["type"] == "host"
    count = next(p for p in tools["ping"]["params"] if p["name"] == "count")
    assert (count["min"], count["max"], count["default"]) == (1, 20, 4)
    assert "A" in next(p for p in tools["dig"]["params"] if p["name"] == "record_type")["choices"]


@pytest.mark.gen_test
async def test_the_catalogue_needs_authentication(api, role_tokens):
    assert (await api("/api/tools", token=None)).code == 401
    assert (await api("/api/tools", token="nope")).code == 401
    assert (await api("/api/tools", "POST", token=role_tokens[VIEWER])).code == 405
