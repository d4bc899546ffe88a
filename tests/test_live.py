"""The live feed: the hub on its own, then ``/api/ws`` over real websockets.

Covers: hello + replay with ``since`` in order then live events; reset when the
buffer no longer reaches (or the server restarted); origin refused; no anonymous
access; a client that never reads is dropped without delaying the others; one event
reaches every open console.
"""

import asyncio
import json
import time

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from tests.conftest import ADMIN_TOKEN
from tests.jobs_helpers import PING_OUTPUT, settle, wait_for
from tests.role_tokens import VIEWER
from toolbox.core.events.bus import MongoBus
from toolbox.core.events.hub import EventHub
from toolbox.store.db import open_database
from toolbox.store.repos.events import EventRepo
from toolbox.core.events.console_feed import CLOSE_TOO_SLOW, ConsoleFeed


# --- the hub, without HTTP ---

class Sink:
    """A fake connection: records what it is sent; ``gate`` (an Event) makes it stall."""

    def __init__(self, gate=None):
        self.texts, self.closed_with, self.gate = [], None, gate

    async def send(self, text):
        if self.gate is not None:
            await self.gate.wait()
        self.texts.append(json.loads(text))

    def close(self, code, reason):
        self.closed_with = (code, reason)


@pytest.mark.gen_test
async def test_hub_sends_hello_then_replays_missed_events_in_order_then_live_ones():
    events = EventHub(buffer_size=100)
    hub = ConsoleFeed(events, queue_size=50)
    for i in range(5):
        events.publish("task.queued", {"i": i})
    sink = Sink()
    hub.connect(sink.send, sink.close, since=2)
    events.publish("task.done", {"i": 5})
    await settle()
    assert sink.texts[0] == {"type": "hello", "seq": 5}
    assert [m["seq"] for m in sink.texts[1:]] == [3, 4, 5, 6]
    assert sink.texts[-1]["type"] == "task.done" and sink.texts[-1]["data"] == {"i": 5}


def test_an_event_a_listener_publishes_follows_its_cause_for_every_listener_and_in_the_feed():
    events = EventHub(buffer_size=100)
    seen = {"first": [], "second": [], "feed": []}

    def first(event):  # counts jobs, say: a task.done makes a job.progress
        seen["first"].append(event["type"])
        if event["type"] == "task.done":
            events.publish("job.progress", {})
            events.publish("job.done", {})

    events.subscribe(first)
    events.subscribe(lambda event: seen["second"].append(event["type"]))
    events.subscribe_feed(lambda event: seen["feed"].append((event["seq"], event["type"])))
    events.publish("task.done", {})
    assert seen["first"] == seen["second"] == ["task.done", "job.progress", "job.done"]
    assert seen["feed"] == [(1, "task.done"), (2, "job.progress"), (3, "job.done")]
    events.publish("task.queued", {})  # the hub is ready for the next one
    assert seen["feed"][-1] == (4, "task.queued")


@pytest.mark.gen_test
async def test_a_shared_bus_stores_an_event_a_listener_publishes_after_its_cause():
    bus = MongoBus(EventRepo(open_database(None, name="bus_order")))
    seen = []

    def counting(event):
        seen.append(event["type"])
        if event["type"] == "task.done":
            bus.publish("job.progress", {})

    bus.subscribe(counting)
    bus.subscribe(lambda event: seen.append("second saw " + event["type"]))
    bus.publish("task.done", {})
    assert seen == ["task.done", "second saw task.done", "job.progress", "second saw job.progress"]
    await bus.stop()  # writes what is queued
    stored = [doc["type"] for doc in sorted(await bus.repo.all(), key=lambda doc: doc["_id"])]
    assert stored == ["task.done", "job.progress"]


@pytest.mark.gen_test
async def test_hub_says_reset_when_the_buffer_no_longer_reaches_or_the_server_restarted():
    events = EventHub(buffer_size=3)
    hub = ConsoleFeed(events, queue_size=50)
    for i in range(10):
        events.publish("task.queued", {"i": i})
    old, ahead, exact = Sink(), Sink(), Sink()
    hub.connect(old.send, old.close, since=2)  # events 3..7 are gone
    hub.connect(ahead.send, ahead.close, since=99)  # a seq from before a restart
    hub.connect(exact.send, exact.close, since=7)  # 8..10 are still buffered
    await settle()
    assert old.texts == [{"type": "hello", "seq": 10}, {"type": "reset", "seq": 10}]
    assert ahead.texts == [{"type": "hello", "seq": 10}, {"type": "reset", "seq": 10}]
    assert [m.get("seq") for m in exact.texts] == [10, 8, 9, 10]
    assert "reset" not in [m["type"] for m in exact.texts]


@pytest.mark.gen_test
async def test_hub_says_reset_when_more_were_missed_than_the_queue_holds():
    events = EventHub(buffer_size=100)
    hub = ConsoleFeed(events, queue_size=4)
    for i in range(10):
        events.publish("task.queued", {"i": i})
    sink = Sink()
    client = hub.connect(sink.send, sink.close, since=0)
    await settle()
    assert sink.texts == [{"type": "hello", "seq": 10}, {"type": "reset", "seq": 10}]
    assert not client.closed


@pytest.mark.gen_test
async def test_hub_drops_a_stalled_client_and_keeps_serving_the_others():
    events = EventHub()
    hub = ConsoleFeed(events, queue_size=4)
    stalled, fast = Sink(gate=asyncio.Event()), Sink()
    slow_client = hub.connect(stalled.send, stalled.close)
    hub.connect(fast.send, fast.close)
    for i in range(20):
        events.publish("task.done", {"i": i})
        await settle()
    assert slow_client.closed and slow_client not in hub.clients
    assert stalled.closed_with[0] == CLOSE_TOO_SLOW
    assert [m["data"]["i"] for m in fast.texts[1:]] == list(range(20))
    assert len(hub.clients) == 1


@pytest.mark.gen_test
async def test_a_slow_console_gets_each_running_tasks_newest_output_in_place_and_is_not_dropped():
    events = EventHub()
    hub = ConsoleFeed(events, queue_size=4)
    gate = asyncio.Event()
    slow = Sink(gate=gate)
    client = hub.connect(slow.send, slow.close)
    for i in range(30):  # far more than the queue holds, for two tasks
        events.publish("task.output", {"task_id": 1 + i % 2, "partial": {"bytes": i}})
        if i == 10:
            events.publish("task.done", {"task_id": 7})
    await settle()
    assert not client.closed and len(client.pending) <= 3
    gate.set()
    for _ in range(3):
        await settle()
    sent = [(m["type"], m["data"].get("task_id"), m["data"].get("partial", {}).get("bytes")) for m in slow.texts[1:]]
    # (the hello is still being written) each task's newest output, where its first waiting
    # one stood, and the event published after it behind them, in order
    assert sent == [("task.output", 1, 28), ("task.output", 2, 29), ("task.done", 7, None)]
    assert not client.closed and client.output_slots == {}


@pytest.mark.gen_test
async def test_hub_writes_what_has_queued_up_as_one_batch_in_order():
    events = EventHub()
    hub = ConsoleFeed(events, queue_size=50)
    first, second = asyncio.Event(), asyncio.Event()
    gate, started = {"now": first}, []

    async def send(text):
        started.append(json.loads(text))
        await gate["now"].wait()  # a write ends when its gate opens

    client = hub.connect(send, lambda code, reason: None)
    for i in range(5):
        events.publish("task.done", {"i": i})
    await settle()
    assert [m["type"] for m in started] == ["hello"]  # written at once; the events wait behind it
    gate["now"] = second
    first.set()
    await settle()
    # the five events queued meanwhile are all being written at once, not one per loop turn
    assert [m.get("data", {}).get("i") for m in started] == [None, 0, 1, 2, 3, 4]
    assert client.sent == 1
    events.publish("task.done", {"i": 5})
    await settle()
    assert len(started) == 6  # the next batch waits for the writes of this one
    second.set()
    for _ in range(3):
        await settle()
    assert [m["data"]["i"] for m in started[1:]] == list(range(6)) and client.sent == 7


@pytest.mark.gen_test
async def test_hub_forgets_a_client_whose_send_fails():
    events = EventHub()
    hub = ConsoleFeed(events, queue_size=10)

    async def broken(text):
        raise OSError("gone")

    closed = []
    client = hub.connect(broken, lambda code, reason: closed.append(code))
    await settle()
    assert client.closed and not hub.clients and closed == [None]
    events.publish("task.done", {})  # nobody left: nothing breaks


# --- /api/ws over HTTP ---

def ws_url(base_url, since=None):
    url = base_url.replace("http://", "ws://") + "/api/ws"
    return url if since is None else f"{url}?since={since}"


async def connect(base_url, since=None, token=ADMIN_TOKEN, headers=None):
    all_headers = dict(headers or {})
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    request = HTTPRequest(ws_url(base_url, since), headers=all_headers, request_timeout=5)
    return await websocket_connect(request)


async def receive(conn, timeout=5):
    text = await asyncio.wait_for(conn.read_message(), timeout)
    assert text is not None, "the server closed the socket"
    return json.loads(text)


@pytest.mark.gen_test
async def test_ws_hello_then_live_events(app, http_server, base_url, make_agent):
    conn = await connect(base_url)
    try:
        hello = await receive(conn)
        assert hello == {"type": "hello", "seq": app.toolbox.events.seq}
        await make_agent("a1")
        app.toolbox.agents.mark_seen("a1")
        event = await receive(conn)
        assert event["type"] == "agent.online" and event["data"] == {"name": "a1"}
        assert event["seq"] > hello["seq"] and isinstance(event["at"], float)
    finally:
        conn.close()


@pytest.mark.gen_test
async def test_ws_reconnect_with_since_replays_missed_events_in_order_then_live(app, http_server, base_url):
    events = app.toolbox.events
    conn = await connect(base_url)
    last = (await receive(conn))["seq"]
    events.publish("task.queued", {"n": 1})
    last = (await receive(conn))["seq"]
    conn.close()
    assert await wait_for(lambda: not app.toolbox.console_feed.clients)
    for n in (2, 3, 4):  # published while the console is away
        events.publish("task.queued", {"n": n})
    conn = await connect(base_url, since=last)
    try:
        assert (await receive(conn))["type"] == "hello"
        assert [(await receive(conn))["data"]["n"] for _ in range(3)] == [2, 3, 4]
        events.publish("task.done", {"n": 5})
        live = await receive(conn)
        assert live["type"] == "task.done" and live["data"] == {"n": 5} and live["seq"] > last
    finally:
        conn.close()


@pytest.mark.gen_test
@pytest.mark.config(replay_events=5)  # a small replay buffer
async def test_ws_reset_when_the_buffer_was_overrun(app, http_server, base_url):
    events = app.toolbox.events
    since = events.seq
    for n in range(12):
        events.publish("task.queued", {"n": n})
    await events.caught_up()
    current = events.seq
    conn = await connect(base_url, since=since)
    try:
        assert await receive(conn) == {"type": "hello", "seq": current}
        assert await receive(conn) == {"type": "reset", "seq": current}
        events.publish("task.done", {"n": 12})
        assert (await receive(conn))["seq"] > current
    finally:
        conn.close()


@pytest.mark.gen_test
async def test_ws_refuses_another_origin(app, http_server, base_url):
    with pytest.raises(HTTPClientError) as refused:
        await connect(base_url, headers={"Origin": "http://evil.example"})
    assert refused.value.code == 403
    host = base_url.split("//", 1)[1]
    conn = await connect(base_url, headers={"Origin": f"http://{host}"})  # the console's own page
    assert (await receive(conn))["type"] == "hello"
    conn.close()


@pytest.mark.gen_test
@pytest.mark.parametrize("token", [None, "wrong-token"])
async def test_ws_refuses_anonymous_and_bad_credentials_before_upgrading(app, http_server, base_url, token):
    with pytest.raises(HTTPClientError) as refused:
        await connect(base_url, token=token)
    assert refused.value.code == 401
    assert not app.toolbox.console_feed.clients


@pytest.mark.gen_test
async def test_ws_refuses_a_bad_since(app, http_server, base_url):
    with pytest.raises(HTTPClientError) as refused:
        await connect(base_url, since="-1")
    assert refused.value.code == 400


@pytest.mark.gen_test
async def test_one_event_reaches_every_open_console(app, http_server, base_url):
    conns = [await connect(base_url) for _ in range(5)]
    try:
        hellos = [await receive(conn) for conn in conns]
        assert {hello["type"] for hello in hellos} == {"hello"}
        event = app.toolbox.events.publish("task.done", {"task_id": 7, "result": "ok"})
        received = [await receive(conn) for conn in conns]
        assert {message["seq"] for message in received} == {received[0]["seq"]}  # one number everywhere
        for hello, message in zip(hellos, received):
            assert message["seq"] > hello["seq"]
            assert {key: message[key] for key in ("type", "data", "at")} == json.loads(json.dumps(
                {key: event[key] for key in ("type", "data", "at")}))
    finally:
        for conn in conns:
            conn.close()


@pytest.mark.gen_test
async def test_events_written_as_one_batch_arrive_as_separate_messages_of_every_frame_size(app, http_server,
                                                                                          base_url):
    conn = await connect(base_url)
    try:
        await receive(conn)  # hello
        client = next(iter(app.toolbox.console_feed.clients))
        # published in one loop turn: the first is written at once, the others queue behind
        # it and go as one batch (one socket write of their frames); a frame's length takes
        # 7 bits under 126 bytes, 16 bits up to 65,535, 64 bits beyond
        sizes = [0, 60, 125, 126, 5000, 65535, 65536, 300000, "\u00e9\u4e2d\U0001f600" * 30]
        for n, size in enumerate(sizes):
            app.toolbox.events.publish("task.output", {"task_id": n, "text": size if isinstance(size, str) else "x" * size})
        got = [await receive(conn) for _ in sizes]
        assert [message["data"]["task_id"] for message in got] == list(range(len(sizes)))
        assert [message["data"]["text"] for message in got] == [
            size if isinstance(size, str) else "x" * size for size in sizes]
        assert client.send_many is not None and client.sent == 1 + len(sizes)
    finally:
        conn.close()


@pytest.mark.gen_test(timeout=30)
@pytest.mark.config(ws_queue_size=4)
async def test_a_client_that_never_reads_is_dropped_without_delaying_the_others(app, http_server, base_url):
    live, events = app.toolbox.console_feed, app.toolbox.events
    stalled = await connect(base_url)  # never read from: Tornado's client stops reading
    fast = await connect(base_url)
    assert await wait_for(lambda: len(live.clients) == 2)
    payload = "x" * 256 * 1024  # fills the socket buffers in a few dozen events
    started, worst_publish, received = time.monotonic(), 0.0, 0
    assert (await receive(fast))["type"] == "hello"
    for n in range(400):  # bounded: the stalled client must be dropped long before
        before = time.monotonic()
        events.publish("task.done", {"n": n, "result": payload})
        worst_publish = max(worst_publish, time.monotonic() - before)
        message = await receive(fast)
        assert message["data"]["n"] == n
        received += 1
        if len(live.clients) == 1:
            break
    assert len(live.clients) == 1, "the stalled client was never dropped"
    assert received < 400
    assert worst_publish < 0.5  # publishing never waits for a client
    assert time.monotonic() - started < 20
    events.publish("task.done", {"n": "after"})
    assert (await receive(fast))["data"]["n"] == "after"
    for _ in range(500):  # now read what the stalled client had buffered: then the close
        if await asyncio.wait_for(stalled.read_message(), 5) is None:
            break
    assert stalled.close_code == CLOSE_TOO_SLOW
    stalled.close()
    fast.close()


@pytest.mark.gen_test(timeout=15)
async def test_a_job_result_reaches_every_console_in_order(app, http_server, base_url, api, fake_agent, role_tokens):
    agent = await fake_agent("a1")
    admin, viewer = await connect(base_url), await connect(base_url, token=role_tokens[VIEWER])
    try:
        for conn in (admin, viewer):
            assert (await receive(conn))["type"] == "hello"
        job = (await api("/api/jobs", "POST", json={"tool": "ping", "params": {"target": "192.0.2.7"},
                                                    "agents": ["a1"]})).json
        task = await agent.fetch()
        await agent.post(task["task_id"], PING_OUTPUT)
        for conn in (admin, viewer):
            seen = []
            while not seen or seen[-1]["type"] != "job.done":
                seen.append(await receive(conn))
            seqs = [event["seq"] for event in seen]
            assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
            types = [event["type"] for event in seen]
            assert types.index("task.queued") < types.index("task.dispatched") < types.index("task.done")
            done = next(event for event in seen if event["type"] == "task.done")
            assert done["data"]["job_id"] == job["job_id"] and "result" not in done["data"]
            # What a console shows comes with the event: the reading and a bounded preview.
            assert done["data"]["result_preview"] == PING_OUTPUT
            assert done["data"]["result_bytes"] == len(PING_OUTPUT.encode())
            assert done["data"]["parsed"]["kind"] == "ping" and done["data"]["outcome"] == "ok"
            assert done["data"]["summary"]
            assert seen[-1]["data"]["counts"]["done"] == 1
    finally:
        admin.close()
        viewer.close()


@pytest.mark.gen_test
async def test_ws_accepts_a_session_cookie_but_not_from_another_site(app, http_server, base_url, login_as):
    session = await login_as("viewer")
    cookie = {"Cookie": session.headers["Cookie"]}
    conn = await connect(base_url, token=None, headers=cookie)
    assert (await receive(conn))["type"] == "hello"
    conn.close()
    with pytest.raises(HTTPClientError) as refused:  # cross-site websocket hijacking
        await connect(base_url, token=None, headers=dict(cookie, Origin="https://evil.example"))
    assert refused.value.code == 403


@pytest.mark.gen_test
async def test_ws_refuses_a_disabled_user(app, http_server, base_url, login_as):
    session = await login_as("operator")
    await app.toolbox.users.repo.set_fields(session.user_id, {"disabled": True})
    with pytest.raises(HTTPClientError) as refused:
        await connect(base_url, token=None, headers={"Cookie": session.headers["Cookie"]})
    assert refused.value.code == 403
    assert not app.toolbox.console_feed.clients


@pytest.mark.gen_test
async def test_an_open_socket_closes_when_its_user_is_disabled(app, http_server, base_url, login_as, monkeypatch):
    from toolbox.handlers.ws import LiveSocketHandler

    monkeypatch.setattr(LiveSocketHandler, "RECHECK_SECONDS", 0.1)
    session = await login_as("viewer")
    conn = await connect(base_url, token=None, headers={"Cookie": session.headers["Cookie"]})
    assert (await receive(conn))["type"] == "hello"
    await app.toolbox.users.repo.set_fields(session.user_id, {"disabled": True})
    assert await asyncio.wait_for(conn.read_message(), 5) is None
    assert conn.close_code == 1008 and "disabled" in conn.close_reason
    conn.close()
    assert await wait_for(lambda: not app.toolbox.console_feed.clients)
