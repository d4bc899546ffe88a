"""Numbers from clients: ASCII digits only, bounded, everywhere (queries, paths, bodies).

``str.isdigit()`` accepts ``²``, ``①``, ``١`` and ``１``; ``int()`` refuses some of them and
reads others as digits.  Every number toolBox reads goes through ``validation.int_in`` /
``validation.parse_digits``, which take ASCII digits alone.
"""

import json
import urllib.parse

import pytest

from toolbox import validation
from toolbox.errors import ValidationError

ODD_DIGITS = ["²", "①", "١", "１", "٣٤", "1²", "+1", "0x10", "1e3", "1_000", "١٢", "1\n", "1\x00"]
HUGE = "9" * 5000


def q(text):
    return urllib.parse.quote(text, safe="")


@pytest.mark.parametrize("text", ODD_DIGITS + [HUGE, "", " 1", "1 ", "-0", "99999999999999999999"])
def test_the_shared_parser_takes_ascii_digits_only(text):
    with pytest.raises(ValidationError):
        validation.int_in(text, "limit", 1, 500)
    assert validation.parse_digits(text, 1, 2**62) is None


def test_the_shared_parser_reads_plain_numbers_and_json_integers():
    assert validation.int_in("42", "limit", 1, 500) == 42
    assert validation.int_in(42, "limit", 1, 500) == 42
    assert validation.parse_digits("007", 1, 10) == 7
    for bad in (True, 4.0, None, [1], "501", 0):
        with pytest.raises(ValidationError):
            validation.int_in(bad, "limit", 1, 500)


@pytest.mark.gen_test
@pytest.mark.parametrize("path", ["/api/tasks", "/api/jobs", "/api/audit"])
async def test_list_arguments_with_odd_digits_are_400(api, path):
    for text in ODD_DIGITS + [HUGE]:
        for name in ("limit", "before"):
            reply = await api(f"{path}?{name}={q(text)}")
            assert reply.code == 400, (path, name, text, reply.json)


@pytest.mark.gen_test
async def test_path_ids_with_odd_digits_are_404_never_another_task(api, make_agent):
    name, _token = await make_agent("n-1")
    created = await api("/api/tasks", "POST", json={"agents": [name], "command": "echo one"})
    assert created.json["items"][0]["task_id"] == 1
    for text in ODD_DIGITS + [HUGE, "0"]:
        for path in (f"/api/tasks/{q(text)}", f"/api/tasks/{q(text)}/cancel", f"/api/jobs/{q(text)}",
                     f"/api/jobs/{q(text)}/cancel"):
            method = "POST" if path.endswith("/cancel") else "GET"
            reply = await api(path, method, body=b"" if method == "POST" else None)
            assert reply.code == 404, (path, reply.json)
    assert (await api("/api/tasks/1")).json["state"] == "queued"  # '١' and '１' did not cancel it


@pytest.mark.gen_test
async def test_websocket_since_with_odd_digits_is_a_json_400(raw):
    for text in ODD_DIGITS + [HUGE]:
        reply = await raw.send("GET", f"/api/ws?since={q(text)}",
                           {"Authorization": "Bearer test-admin-token-0123456789", "Connection": "Upgrade",
                            "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        reply.assert_json_error(400)


@pytest.mark.gen_test
async def test_token_expiry_with_odd_digits_is_400(api, login_as):
    session = await login_as("viewer")
    for value in ["²", "١", "１", HUGE, "3.5", 3.5, True]:
        reply = await api("/api/tokens", "POST", token=None, headers=session.headers,
                          json={"name": "t", "expires_in_days": value})
        assert reply.code == 400, (value, reply.json)
    huge_number = '{"name": "t", "expires_in_days": ' + HUGE + "}"
    reply = await api("/api/tokens", "POST", token=None, headers=dict(session.headers, **{
        "Content-Type": "application/json"}), body=huge_number)
    assert reply.code == 400


@pytest.mark.gen_test
async def test_agent_reports_with_odd_digit_task_ids_are_refused(api, fake_agent):
    agent = await fake_agent("n-2")
    for task_id in ["١", "１", "²", HUGE]:
        for body in (json.dumps({"name": agent.name, "task_id": task_id, "result": "x"}),
                     '{"name":"' + agent.name + '","task_id":' + task_id + ',"result":"a "quoted" b"}'):
            reply = await agent.post_reply(body.encode())
            assert reply.code == 400, (task_id, body[:60], reply.json)
