"""Alerts end to end on one server: channels (secrets write-only, URLs checked), signed
messages to a fake Feishu bot and webhook, and real rounds of the emulated field agent
doing tcp to a port on 127.0.0.1 that is closed, then opens."""

import asyncio
import socket

import pytest

from tests.alert_receivers import Receivers
from tests.console_scenes import dig_output
from tests.field_agent import FieldAgent
from tests.jobs_helpers import PING_OUTPUT, wait_for
from tests.role_tokens import OPERATOR, VIEWER
from tests.schedules_helpers import START, WallClock


@pytest.fixture
def receivers(io_loop):
    made = Receivers()
    yield made
    made.close()


async def channel(api, type_, url, secret=None, name=None):
    body = {"type": type_, "name": name or f"{type_} channel", "url": url}
    if secret is not None:
        body["secret"] = secret
    reply = await api("/api/channels", "POST", json=body)
    assert reply.code == 201, reply.json
    return reply.json


@pytest.mark.gen_test(timeout=30)
async def test_channels_are_for_admins_and_their_secrets_are_never_shown(api, app, receivers, role_tokens):
    made = await channel(api, "feishu", receivers.bot_url, secret="bot-secret-1", name="ops group")
    assert made["has_secret"] is True and "secret" not in made and made["url"] == receivers.bot_url
    assert (await api("/api/channels", "POST", token=role_tokens[OPERATOR],
                      json={"type": "webhook", "name": "x", "url": receivers.hook_url})).code == 403
    listed = (await api("/api/channels", token=role_tokens[VIEWER])).json["items"]
    assert listed == [{key: made[key] for key in made if key != "url"}]  # the URL holds the hook's token
    everything = [(await api(path)).body for path in ("/api/channels", f"/api/channels/{made['channel_id']}",
                                                      "/api/audit?limit=500")]
    assert not any(b"bot-secret-1" in body for body in everything)
    for body, error in [({"type": "slack", "name": "x", "url": receivers.hook_url}, "type"),
                        ({"type": "webhook", "name": "x", "url": "ftp://127.0.0.1/x"}, "url"),
                        ({"type": "webhook", "name": "", "url": receivers.hook_url}, "name"),
                        ({"type": "webhook", "name": "x", "url": receivers.hook_url, "secret": 5}, "secret"),
                        ({"type": "webhook", "name": "x"}, "url: required")]:
        reply = await api("/api/channels", "POST", json=body)
        assert reply.code == 400 and error in reply.json["error"], reply.json
    assert (await api(f"/api/channels/{made['channel_id']}", "DELETE")).code == 200
    assert (await api(f"/api/channels/{made['channel_id']}")).code == 404


@pytest.mark.gen_test(timeout=30)
@pytest.mark.config(deny_private_targets=True)
async def test_with_private_targets_denied_a_channel_cannot_point_at_the_servers_network(api):
    for url in ("http://127.0.0.1:9/hook", "https://10.1.2.3/x", "http://localhost:8000/", "http://[::1]/"):
        reply = await api("/api/channels", "POST", json={"type": "webhook", "name": "x", "url": url})
        assert reply.code == 400 and reply.json["error"].startswith("url:"), (url, reply.json)


@pytest.mark.gen_test(timeout=30)
async def test_test_messages_are_signed_and_the_bots_code_is_read(api, receivers):
    bot = await channel(api, "feishu", receivers.bot_url, secret="bot-secret-1")
    sent = (await api(f"/api/channels/{bot['channel_id']}/test", "POST")).json
    assert (sent["state"], sent["tries"], sent["kind"]) == ("sent", 1, "test")
    [card] = receivers.bot.received
    assert card["msg_type"] == "interactive" and "Test message" in card["card"]["header"]["title"]["content"]

    wrong = await channel(api, "feishu", receivers.bot_url, secret="not-the-bots-secret")
    failed = (await api(f"/api/channels/{wrong['channel_id']}/test", "POST")).json
    assert failed["state"] == "failed" and failed["last_error"].startswith("code 19021")
    assert receivers.bot.refused == ["sign"]

    receivers.bot.fail(1, "code")
    limited = (await api(f"/api/channels/{bot['channel_id']}/test", "POST")).json
    assert limited["state"] == "failed" and "11232" in limited["last_error"]  # a test message is tried once

    hook = await channel(api, "webhook", receivers.hook_url, secret="hook-secret-1")
    assert (await api(f"/api/channels/{hook['channel_id']}/test", "POST")).json["state"] == "sent"
    [message] = receivers.hook.received
    assert message["event"] == "alert.test"
    unsigned = await channel(api, "webhook", receivers.hook_url)
    refused = (await api(f"/api/channels/{unsigned['channel_id']}/test", "POST")).json
    assert (refused["state"], refused["last_error"]) == ("failed", "HTTP 401")
    log = (await api(f"/api/channels/{bot['channel_id']}/deliveries")).json["items"]
    assert [line["state"] for line in log] == ["failed", "sent"]


class Port:
    """A port on 127.0.0.1 that refuses connections until ``open()``."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.number = self.sock.getsockname()[1]

    def open(self):
        self.sock.listen(16)

    def close(self):
        self.sock.close()


async def round_done(api, sid, count, clock):
    """Move the clock a round on and wait until the schedule's ``count``-th round's job is done."""
    clock.advance(60)
    found = {}

    async def done():
        rounds = (await api(f"/api/schedules/{sid}/rounds")).json["items"]
        if len(rounds) < count or not rounds[0]["job_id"]:
            return False
        found.update((await api(f"/api/jobs/{rounds[0]['job_id']}")).json)
        return found["state"] == "done"

    assert await wait_for(done, timeout=20), found
    return found


@pytest.mark.gen_test(timeout=120)
@pytest.mark.parametrize("watch_clock", [WallClock()])
@pytest.mark.config(poll_timeout=1.0, alert_retry_base=0.05)
async def test_field_agents_failing_fire_one_alert_and_recovering_clear_it(api, app, base_url, make_agent,
                                                                          receivers, watch_clock):
    watch_clock.set(START)
    port, url, agents = Port(), base_url.replace("localhost", "127.0.0.1"), []
    try:
        for n in (1, 2, 3):
            agent = FieldAgent(url, *(await make_agent(f"field-{n}")), interval=0.2)
            agents.append(agent)
            await asyncio.get_running_loop().run_in_executor(None, agent.start)  # it registers, blocking
        bot = await channel(api, "feishu", receivers.bot_url, secret="bot-secret-1")
        hook = await channel(api, "webhook", receivers.hook_url, secret="hook-secret-1")
        made = await api("/api/schedules", "POST", json={
            "tool": "tcp", "params": {"target": "127.0.0.1", "port": port.number},
            "agents": ["field-1", "field-2", "field-3"], "interval": 60, "start_at": "2026-03-01T12:01:00Z"})
        sid = made.json["schedule_id"]
        rule = await api(f"/api/schedules/{sid}/alerts", "POST", json={
            "name": "port down", "when": {"tcp": "refused"}, "min_agents": 2, "rounds": 2, "of_rounds": 3,
            "clear_after": 2, "channels": [bot["channel_id"], hook["channel_id"]]})
        assert rule.code == 201, rule.json
        receivers.bot.fail(2, "5xx")  # the bot is down for the first two tries

        await round_done(api, sid, 1, watch_clock)  # refused everywhere: 1 of the 2 rounds needed
        assert (await api("/api/alerts?state=firing")).json["items"] == []
        job = await round_done(api, sid, 2, watch_clock)
        assert await wait_for(lambda: len(receivers.bot.received) == 1 and len(receivers.hook.received) == 1)
        [alert] = (await api("/api/alerts?state=firing")).json["items"]
        assert alert["rule_id"] == rule.json["rule_id"] and alert["job_id"] == job["job_id"]
        assert [a["agent"] for a in alert["agents"]] == ["field-1", "field-2", "field-3"]
        assert all(a["outcome"] == "failed" for a in alert["agents"])
        card = receivers.bot.received[0]["card"]
        assert card["header"]["title"]["content"] == "Firing: port down"
        assert "field-2: failed" in card["elements"][1]["text"]["content"]
        assert receivers.hook.received[0]["event"] == "alert.fire"
        assert receivers.hook.received[0]["links"]["job"].endswith(f"/#/jobs/{job['job_id']}")

        await round_done(api, sid, 3, watch_clock)  # still refused: no second message
        port.open()
        await round_done(api, sid, 4, watch_clock)  # one clean round of the two needed
        assert (await api(f"/api/alerts/{alert['alert_id']}")).json["state"] == "firing"
        await round_done(api, sid, 5, watch_clock)
        assert await wait_for(lambda: len(receivers.hook.received) == 2)
        resolved = (await api(f"/api/alerts/{alert['alert_id']}")).json
        assert resolved["state"] == "resolved" and [r["matched"] for r in resolved["rounds"]] == [3, 3]
        assert receivers.hook.received[1]["event"] == "alert.clear"
        assert await wait_for(lambda: len(receivers.bot.received) == 2)
        assert receivers.bot.received[1]["card"]["header"]["title"]["content"] == "Resolved: port down"
        log = {(n["channel_id"], n["kind"]): n for n in resolved["notifications"]}
        assert set(log) == {(c["channel_id"], k) for c in (bot, hook) for k in ("fire", "clear")}
        assert log[(bot["channel_id"], "fire")]["tries"] == 3 and log[(bot["channel_id"], "fire")]["state"] == "sent"
        assert receivers.bot.requests == 4 and receivers.hook.requests == 2  # nothing sent twice
        assert not any(agent.crashed for agent in agents)
        metrics = (await api("/metrics", expect_json=False)).body.decode()
        assert 'toolbox_alert_notifications_total{state="sent"} 4.0' in metrics
        assert "toolbox_alerts_firing 0.0" in metrics
    finally:
        for agent in agents:
            agent.kill()
        port.close()


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("watch_clock", [WallClock()])
@pytest.mark.config(poll_timeout=0.3)
async def test_reminders_while_firing_stop_when_acknowledged_and_a_silence_keeps_the_clear_quiet(
        api, app, fake_agent, receivers, watch_clock, role_tokens):
    watch_clock.set(START)
    agent = await fake_agent("r-1")
    hook = await channel(api, "webhook", receivers.hook_url, secret="hook-secret-1")
    sid = (await api("/api/schedules", "POST", json={"tool": "ping", "params": {"target": "192.0.2.10"},
                                                     "agents": ["r-1"], "interval": 60})).json["schedule_id"]
    assert await wait_for(_rounds(api, sid, 1))  # the round at START, before the rule
    rule = (await api(f"/api/schedules/{sid}/alerts", "POST", json={
        "when": {"outcome": "failed"}, "remind_every": 5, "channels": [hook["channel_id"]]})).json
    assert rule["name"] is None and rule["of_rounds"] == 1

    async def answer(output, exit_code=0):
        got = []

        async def fetched():
            got.append(await agent.fetch())
            return got[-1] is not None

        assert await wait_for(fetched)
        await agent.post(got[-1]["task_id"], output, exit_code=exit_code)

    async def round_with(output, exit_code=0):
        watch_clock.advance(60)
        await answer(output, exit_code)

    await answer("ping: unknown host", exit_code=2)  # the round before the rule: not its to judge

    await round_with("ping: unknown host", exit_code=2)
    assert await wait_for(lambda: len(receivers.hook.received) == 1)
    [alert] = (await api("/api/alerts?state=firing")).json["items"]
    assert "outcome failed on 1+ agents, 1 of 1 rounds" == alert["rule_name"]
    watch_clock.advance(4 * 60)
    assert not await wait_for(lambda: len(receivers.hook.received) > 1, timeout=0.5)
    watch_clock.advance(60)  # five minutes after it fired
    assert await wait_for(lambda: len(receivers.hook.received) == 2)
    assert receivers.hook.received[1]["event"] == "alert.remind"
    assert (await api(f"/api/alerts/{alert['alert_id']}/ack", "POST", token=role_tokens[VIEWER])).code == 403
    acked = await api(f"/api/alerts/{alert['alert_id']}/ack", "POST", token=role_tokens[OPERATOR])
    assert acked.code == 200 and acked.json["acknowledged_by"] == OPERATOR
    watch_clock.advance(10 * 60)
    assert not await wait_for(lambda: len(receivers.hook.received) > 2, timeout=0.5)
    silenced = await api(f"/api/alerts/{alert['alert_id']}/silence", "POST", json={"until": "2026-03-02T00:00:00Z"})
    assert silenced.json["silenced_until"] == "2026-03-02T00:00:00Z"
    assert (await api(f"/api/alerts/{alert['alert_id']}/silence", "POST", json={"until": "soon"})).code == 400
    await round_with(PING_OUTPUT)
    assert await wait_for(_resolved(api, alert["alert_id"]))
    assert not await wait_for(lambda: len(receivers.hook.received) > 2, timeout=0.5)  # silenced: no clear sent
    assert (await api(f"/api/alerts/{alert['alert_id']}/ack", "POST")).code == 400  # resolved already
    assert (await api("/api/alerts?state=lost")).code == 400


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("watch_clock", [WallClock()])
@pytest.mark.config(poll_timeout=0.3)
async def test_a_dns_rule_fires_when_an_agent_resolves_outside_the_expected_set_and_names_its_answers(
        api, app, fake_agent, receivers, watch_clock):
    watch_clock.set(START)
    agents = [await fake_agent("d-1"), await fake_agent("d-2")]
    hook = await channel(api, "webhook", receivers.hook_url, secret="hook-secret-1")
    sid = (await api("/api/schedules", "POST", json={"tool": "dig", "params": {"target": "cdn.example.com"},
                                                     "agents": ["d-1", "d-2"], "interval": 60})).json["schedule_id"]
    made = await api(f"/api/schedules/{sid}/alerts", "POST", json={
        "name": "cdn moved", "when": {"dns_expected": ["203.0.113.11", "203.0.113.10", "203.0.113.12"]},
        "channels": [hook["channel_id"]]})
    assert made.code == 201 and made.json["when"] == {"dns_expected": ["203.0.113.10", "203.0.113.11", "203.0.113.12"]}
    refused = await api(f"/api/schedules/{sid}/alerts", "POST", json={"when": {"dns_expected": ["a b\n"]}})
    assert refused.code == 400 and refused.json["error"].startswith("when.dns_expected: ")

    async def round_with(outputs):
        for agent, output in zip(agents, outputs):
            got = []

            async def fetched():
                got.append(await agent.fetch())
                return got[-1] is not None

            assert await wait_for(fetched)
            await agent.post(got[-1]["task_id"], output)

    usual = dig_output("cdn.example.com", ["203.0.113.10", "203.0.113.11"])
    await round_with([usual, usual])
    watch_clock.advance(60)
    await round_with([usual, dig_output("cdn.example.com", ["198.51.100.7"])])
    assert await wait_for(lambda: len(receivers.hook.received) == 1)
    fired = receivers.hook.received[0]
    assert fired["event"] == "alert.fire" and fired["agents"] == ["d-2: ok, 12 ms, status NOERROR, answers 198.51.100.7"]
    [alert] = (await api("/api/alerts?state=firing")).json["items"]
    assert [(a["agent"], a["answers"]) for a in alert["agents"]] == [("d-2", ["198.51.100.7"])]
    watch_clock.advance(60)
    await round_with([usual, usual])
    assert await wait_for(_resolved(api, alert["alert_id"]))
    assert await wait_for(lambda: len(receivers.hook.received) == 2)


def _rounds(api, sid, count):
    async def check():
        return len((await api(f"/api/schedules/{sid}/rounds")).json["items"]) >= count
    return check


def _resolved(api, alert_id):
    async def check():
        return (await api(f"/api/alerts/{alert_id}")).json["state"] == "resolved"
    return check


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("watch_clock", [WallClock()])
async def test_a_preview_replays_a_rule_over_the_stored_points(api, app, watch_clock):
    import datetime

    watch_clock.set(START + datetime.timedelta(hours=3))
    sid = (await api("/api/schedules", "POST", json={"tool": "ping", "params": {"target": "192.0.2.10"},
                                                     "agents": ["p-1", "p-2"], "interval": 60,
                                                     "enabled": False})).json["schedule_id"]
    failing = ["", "a", "ab", "ab", "", "", "ab", "b", "ab"]  # each minute, which agents failed
    for minute, names in enumerate(failing):
        at = START + datetime.timedelta(minutes=60 + minute)
        for agent, short in (("p-1", "a"), ("p-2", "b")):
            await app.toolbox.series.record({"schedule_id": sid, "agent": agent, "at": at, "tool": "ping",
                                             "outcome": "failed" if short in names else "ok", "value": None,
                                             "loss": None, "n": None, "fp": None, "task_id": minute})
    rule = {"when": {"outcome": "failed"}, "min_agents": 2, "clear_after": 2}
    preview = (await api(f"/api/schedules/{sid}/alerts/preview", "POST", json=rule)).json
    assert (preview["rounds"], preview["fired"], preview["cleared"], preview["firing_now"]) == (9, 2, 1, True)
    assert preview["periods"][0] == {"from": "2026-03-01T13:02:00Z", "to": "2026-03-01T13:05:00Z"}
    one = (await api(f"/api/schedules/{sid}/alerts/preview?hours=1", "POST", json=rule)).json
    assert one["rounds"] == 0 and one["fired"] == 0  # the points are over an hour old
    assert (await api(f"/api/schedules/{sid}/alerts/preview", "POST", json={"when": {}})).code == 400
    assert (await api(f"/api/schedules/{sid}/alerts", "GET")).json["items"] == []  # nothing stored
    made = await api(f"/api/schedules/{sid}/alerts", "POST", json=rule)
    assert made.code == 201 and (await api(f"/api/schedules/{sid}", "DELETE")).code == 200
    assert await app.toolbox.alerts.rules.get(made.json["rule_id"]) is None  # the rules went with it


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("watch_clock", [WallClock()])
@pytest.mark.config(poll_timeout=0.3)
async def test_a_round_nobody_evaluated_is_evaluated_by_the_sweep_and_a_second_flush_sends_nothing(
        api, app, fake_agent, receivers, watch_clock):
    watch_clock.set(START)
    agent = await fake_agent("c-1")
    hook = await channel(api, "webhook", receivers.hook_url, secret="hook-secret-1")
    sid = (await api("/api/schedules", "POST", json={"tool": "ping", "params": {"target": "192.0.2.10"},
                                                     "agents": ["c-1"], "interval": 60,
                                                     "enabled": False})).json["schedule_id"]
    rule = (await api(f"/api/schedules/{sid}/alerts", "POST", json={
        "when": {"outcome": "failed"}, "channels": [hook["channel_id"]]})).json
    # the process that runs the round "dies" before it evaluates it: nobody hears its job.done
    app.toolbox.events.unsubscribe(app.toolbox.alerts.on_event)
    assert (await api(f"/api/schedules/{sid}", "PATCH", json={"enabled": True})).code == 200
    got = []

    async def fetched():
        got.append(await agent.fetch())
        return got[-1] is not None

    assert await wait_for(fetched)
    await agent.post(got[-1]["task_id"], "ping: unknown host", exit_code=2)
    assert await wait_for(lambda: len(receivers.hook.received) == 1, timeout=15)  # the sweep's catch-up
    stored = await app.toolbox.alerts.rules.get(rule["rule_id"])
    assert stored["outbox"] == [] and stored["eval"]["firing"] is True
    replay = dict(stored, outbox=[{"id": "fire:x", "kind": "fire",
                                   "alert": await app.toolbox.alerts.alerts.get(stored["eval"]["alert_id"])}])
    await app.toolbox.alerts._flush(replay)  # an outbox written out twice (a writer died after it)
    assert not await wait_for(lambda: len(receivers.hook.received) > 1, timeout=0.5)
    assert len((await api("/api/alerts")).json["items"]) == 1
