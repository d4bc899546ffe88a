"""Abuse: credentials before bodies, guesses slowed down, no connection kept for ever.

Sent the way a hostile client sends them: raw sockets that send headers and hold the
body back, wrong tokens in a loop, partial requests and idle connections.
"""

import asyncio
import json
import time

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.jobs_helpers import FakeAgent
from tests.processes import ServerProcess
from tests.raw_http import address, parse_reply, request_bytes


async def headers_then_wait(url, method, target, headers, timeout=5.0, first_body=b""):
    """Send the request head (and ``first_body``) but not the rest of the body; the answer
    that comes back meanwhile, and whether the server then closed the connection."""
    host, port = address(url)
    reader, writer = await asyncio.open_connection(host, port)
    head = request_bytes(method, target, headers, b"", content_length=False)
    writer.write(head + first_body)
    await writer.drain()
    data = b""
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), timeout)
            if not chunk:
                break
            data += chunk
    except asyncio.TimeoutError:
        pass
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
    return parse_reply(data)


@pytest.mark.gen_test(timeout=20)
async def test_credentials_are_checked_before_a_body_is_read(raw, http_server, base_url):
    started = time.monotonic()
    refused = await headers_then_wait(base_url, "POST", "/api/agents",
                                      {"Content-Length": str(8 * 1024 * 1024), "Content-Type": "application/json"})
    refused.assert_json_error(401)
    too_big = await headers_then_wait(base_url, "POST", "/api/agents",
                                      {"Content-Length": str(2 * 1024 * 1024), "Authorization": f"Bearer {ADMIN_TOKEN}"})
    too_big.assert_json_error(413)
    assert time.monotonic() - started < 8  # answered at once, not after a body that never came


@pytest.mark.gen_test(timeout=30)
async def test_a_long_report_with_a_wrong_token_is_refused_from_its_head(api, make_agent, base_url, http_server):
    name, token = await make_agent("h-1")
    head = ('{"name":"h-1","task_id":1,"result":"' + "x" * 20000).encode()
    reply = await headers_then_wait(base_url, "POST", "/agent/task",
                                    {"Content-Length": str(50 * 1024 * 1024), "Authorization": "wrong"},
                                    first_body=head)
    reply.assert_json_error(401)
    nameless = b'{"result":"' + b"y" * 20000
    reply = await headers_then_wait(base_url, "POST", "/agent/task",
                                    {"Content-Length": str(50 * 1024 * 1024), "Authorization": "wrong"},
                                    first_body=nameless)
    reply.assert_json_error(401)


@pytest.mark.gen_test(timeout=30)
async def test_a_long_report_with_the_right_token_is_stored(api, fake_agent):
    agent = await fake_agent("h-2")
    created = await api("/api/tasks", "POST", json={"agents": [agent.name], "command": "echo hi"})
    task_id = created.json["items"][0]["task_id"]
    await agent.fetch_reply()
    output = "z" * 100_000
    reply = await agent.post_reply({"name": agent.name, "task_id": task_id, "result": output})
    assert reply.code == 200
    assert (await api(f"/api/tasks/{task_id}")).json["result"] == output


@pytest.mark.gen_test(timeout=30)
@pytest.mark.config(auth_failures_per_minute=10)
async def test_wrong_bearer_tokens_are_throttled_with_retry_after(api):
    codes = [(await api("/api/agents", token=f"tbx_wrong{n}")).code for n in range(15)]
    assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}
    limited = await api("/api/agents", token="tbx_wrong-again")
    assert limited.code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60


@pytest.mark.gen_test(timeout=30)
@pytest.mark.config(auth_failures_per_minute=10, poll_timeout=0.3)
async def test_an_agent_whose_token_is_right_is_never_slowed_by_guessing(api, fake_agent):
    agent = await fake_agent("h-3")
    assert (await agent.fetch_reply(request_timeout=30)).code == 200
    guesses = [(await agent.fetch_reply(authorization=f"guess-{n}", request_timeout=30)).code for n in range(20)]
    assert guesses.count(429) >= 9 and set(guesses) <= {401, 429}
    for _ in range(3):
        assert (await agent.fetch_reply(request_timeout=30)).code == 200
    reply = await agent.post_reply({"name": agent.name, "task_id": 99, "result": "x"})
    assert reply.code == 404  # authenticated (not 429), the task is just not this agent's
    register = await FakeAgent(api, agent.name, "guess").register()
    assert register.code == 429


@pytest.mark.gen_test(timeout=30)
@pytest.mark.config(auth_failures_per_minute=5)
async def test_wrong_login_links_are_throttled_and_counted(app, browser):
    codes = [(await browser.get("/auth/local?token=guess")).code for _ in range(8)]
    assert codes == [403] * 5 + [429] * 3
    assert 1 <= int(browser.history[-1].headers["Retry-After"]) <= 60
    await app.toolbox.audit.flush()
    entries = await app.toolbox.audit.list(action="login")
    counts = {e["details"]["reason"]: e["details"]["count"] for e in entries}
    assert counts == {"bad_local_token": 5, "throttled": 3}


# --- connections: header, idle and body timeouts (a real server process) ---

@pytest.mark.slow
def test_partial_idle_and_slow_body_connections_are_closed_but_parked_fetches_are_not(tmp_path):
    server = ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": "t" * 40, "TOOLBOX_HEADER_TIMEOUT": "1",
                                "TOOLBOX_BODY_TIMEOUT": "1", "TOOLBOX_POLL_TIMEOUT": "3"}, cwd=tmp_path)
    loop = asyncio.new_event_loop()  # its own loop, closed here; the tests' current loop is left alone
    try:
        loop.run_until_complete(_check_timeouts(server.url, "t" * 40))
    finally:
        loop.close()
        server.stop()
    assert not any("Traceback" in line for line in server.lines), "\n".join(server.lines)


async def _check_timeouts(url, admin):
    host, port = address(url)

    async def closed_within(data, seconds):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(data)
        await writer.drain()
        started = time.monotonic()
        try:
            while await asyncio.wait_for(reader.read(65536), seconds + 5):
                pass
        finally:
            writer.close()
            await writer.wait_closed()
        return time.monotonic() - started

    partial = b"GET /api/agents HTTP/1.1\r\nHost: x\r\nAuthorization: Bea"
    assert await closed_within(partial, 1) < 4
    assert await closed_within(b"", 1) < 4  # idle: connected, nothing sent
    slow_body = request_bytes("POST", "/api/agents", {"Authorization": f"Bearer {admin}",
                                                      "Content-Length": "100"}, b"", content_length=False)
    assert await closed_within(slow_body + b'{"name"', 1) < 4
    many = [asyncio.open_connection(host, port) for _ in range(50)]
    conns = await asyncio.gather(*many)
    for _reader, writer in conns:
        writer.write(partial)
    for reader, _writer in conns:
        assert await asyncio.wait_for(reader.read(1), 5) == b""  # closed by the server
    for _reader, writer in conns:
        writer.close()
    # A parked fetch outlives the header timeout: it is answered at the poll timeout.
    created = request_bytes("POST", "/api/agents", {"Authorization": f"Bearer {admin}"},
                            json.dumps({"name": "slowpoke"}).encode())
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(created)
    agent = json.loads(parse_reply(await asyncio.wait_for(reader.read(), 10)).body)
    writer.close()
    reader, writer = await asyncio.open_connection(host, port)
    started = time.monotonic()
    writer.write(request_bytes("GET", "/agent/task?agent_name=slowpoke", {"Authorization": agent["token"]}))
    reply = parse_reply(await asyncio.wait_for(reader.read(), 15))
    writer.close()
    assert reply.code == 200 and json.loads(reply.body) == {"task_id": 0, "command": ""}
    assert time.monotonic() - started > 2.5
