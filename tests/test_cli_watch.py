"""``tbx schedules …`` and ``tbx alerts …`` against a real server and real agents."""

import csv
import io
import json

import pytest

from tests.cli_fleet import Fleet, call
from tests.field_servers import closed_port
from tests.processes import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    fleet = Fleet(tmp_path_factory.mktemp("cli-watch"))
    yield fleet
    fleet.stop()


def ok(result, code=0):
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    return result


def fired_rounds(fleet, sid):
    return [r for r in call(f"{fleet.url}/api/schedules/{sid}/rounds")["items"] if r["state"] == "fired"]


def test_a_schedule_from_add_to_its_series_and_delete(fleet):
    made = json.loads(ok(fleet.tbx("schedules", "add", "ping", "127.0.0.1", "--count", "1", "--every", "5m",
                                   "--from", "lab-1", "--name", "lab ping", "--json")).stdout)
    sid = made["schedule_id"]
    assert made["params"]["target"] == "127.0.0.1" and made["params"]["count"] == 1 and made["interval"] == 300
    assert made["agents"] == ["lab-1"] and made["name"] == "lab ping"
    listed = ok(fleet.tbx("schedules", "list")).stdout.splitlines()
    assert listed[0].split()[:4] == ["id", "name", "tool", "from"]
    assert any(line.split()[0] == str(sid) and "lab ping" in line and "5m" in line and "active" in line
               for line in listed[1:])
    # the first round runs at once; its point is in the series once its task is done
    assert wait_until(lambda: any(p["outcome"] == "ok" for s in call(
        f"{fleet.url}/api/schedules/{sid}/series")["series"] for p in s["points"]), 60)
    job = fired_rounds(fleet, sid)[0]["job_id"]
    rounds = ok(fleet.tbx("schedules", "rounds", str(sid))).stdout.splitlines()
    assert rounds[1].split()[1:3] == ["fired", str(job)]
    shown = ok(fleet.tbx("schedules", "show", str(sid))).stdout
    assert "from: lab-1" in shown and "every: 5m" in shown and f"last round: #{job}" in shown
    series = ok(fleet.tbx("schedules", "series", str(sid), "--agent", "lab-1", "--since", "1h")).stdout
    assert "raw points" in series and "\nlab-1:" in series
    assert any(line.split()[1:2] == ["ok"] and line.split()[-1] == str(job) for line in series.splitlines()
               if line.startswith("20"))
    rows = list(csv.DictReader(io.StringIO(ok(fleet.tbx("schedules", "series", str(sid), "--csv")).stdout)))
    assert [(row["agent"], row["outcome"]) for row in rows] == [("lab-1", "ok")]
    assert json.loads(ok(fleet.tbx("schedules", "series", str(sid), "--json")).stdout)["tier"] == "raw"
    # three days of a 5-minute schedule are over 500 rounds: hourly rollups (none made yet)
    assert ok(fleet.tbx("schedules", "series", str(sid), "--since", "3d")).stdout.startswith(
        f"Schedule {sid}: hour points from ")

    assert "paused" in ok(fleet.tbx("schedules", "pause", str(sid))).stdout
    assert call(f"{fleet.url}/api/schedules/{sid}")["enabled"] is False
    assert "active" in ok(fleet.tbx("schedules", "resume", str(sid))).stdout
    assert ok(fleet.tbx("schedules", "delete", str(sid), "--yes")).stdout.strip() == f"Schedule {sid}: deleted"
    gone = ok(fleet.tbx("schedules", "show", str(sid)), 2)
    assert gone.stdout == "" and len(gone.stderr.splitlines()) == 1 and "404" in gone.stderr


def test_schedule_usage_and_server_errors_are_one_line(fleet):
    for args, words in ((["add", "ping", "127.0.0.1", "--every", "soon"], "a duration"),
                        (["series", "1", "--csv", "--json"], "choose one")):
        result = ok(fleet.tbx("schedules", *args), 2)  # a usage error: click's usage, then the error
        assert result.stdout == "" and words in result.stderr.splitlines()[-1], result.stderr
    for args, words in ((["add", "ping", "127.0.0.1", "--every", "10s"], "interval"),
                        (["rounds", "999"], "404")):
        result = ok(fleet.tbx("schedules", *args), 2)  # the server's refusal: one line
        assert result.stdout == "" and len(result.stderr.splitlines()) == 1 and words in result.stderr, result.stderr


def test_an_alert_fired_by_a_refused_port_is_listed_shown_acknowledged_and_silenced(fleet):
    with closed_port() as port:
        made = json.loads(ok(fleet.tbx("schedules", "add", "tcp", "127.0.0.1", "--port", str(port), "--every", "1h",
                                       "--from", "lab-2", "--paused", "--json")).stdout)
        sid = made["schedule_id"]
        assert made["enabled"] is False and "paused" in ok(fleet.tbx("schedules", "show", str(sid))).stdout
        channel = call(f"{fleet.url}/api/channels", "POST",
                       {"type": "webhook", "name": "ops hook", "url": "http://127.0.0.1:9/hook", "secret": "s3cret"})
        rule = call(f"{fleet.url}/api/schedules/{sid}/alerts", "POST",
                    {"name": "port refused", "when": {"tcp": "refused"}, "rounds": 1,
                     "channels": [channel["channel_id"]]})
        rules = ok(fleet.tbx("alerts", "rules", str(sid))).stdout.splitlines()
        assert rules[1].split()[:4] == [str(rule["rule_id"]), "port", "refused", "tcp"] and " ok " in rules[1]
        ok(fleet.tbx("schedules", "resume", str(sid)))  # its round runs at once, and is refused
        assert wait_until(lambda: call(f"{fleet.url}/api/alerts?state=firing&schedule={sid}")["items"], 60)
    alert = call(f"{fleet.url}/api/alerts?state=firing&schedule={sid}")["items"][0]
    aid = alert["alert_id"]
    firing = ok(fleet.tbx("alerts", "list", "--state", "firing")).stdout.splitlines()
    assert firing[0].split()[:3] == ["id", "state", "rule"]
    assert any(line.split()[:2] == [str(aid), "firing"] and "lab-2" in line for line in firing[1:])
    assert str(aid) not in [line.split()[0] for line in ok(fleet.tbx("alerts", "list", "--state", "resolved"))
                            .stdout.splitlines()[1:]]
    shown = ok(fleet.tbx("alerts", "show", str(aid))).stdout
    assert "state: firing" in shown and "rule_name: port refused" in shown and "\nagents:" in shown
    assert any(line.split()[:2] == ["lab-2", "failed"] for line in shown.splitlines()), shown
    assert "rounds: 1 (1 of 1 agents at " in shown, shown
    assert "\nnotifications:" in shown and "fire" in shown
    assert ok(fleet.tbx("alerts", "ack", str(aid))).stdout.startswith(f"Alert {aid} (port refused) firing: acknowledged by")
    silenced = json.loads(ok(fleet.tbx("alerts", "silence", str(aid), "--for", "1h", "--json")).stdout)
    assert silenced["silenced_until"] and silenced["acknowledged_by"]
    assert "silenced until" in ok(fleet.tbx("alerts", "silence", str(aid), "--for", "2h")).stdout
    assert "silenced" not in ok(fleet.tbx("alerts", "silence", str(aid), "--off")).stdout
    usage = ok(fleet.tbx("alerts", "silence", str(aid)), 2)
    assert "--for DURATION or --off" in usage.stderr
    missing = ok(fleet.tbx("alerts", "show", "999999"), 2)
    assert missing.stdout == "" and len(missing.stderr.splitlines()) == 1 and "404" in missing.stderr

    listed = ok(fleet.tbx("channels", "list")).stdout.splitlines()
    assert listed[1].split()[:5] == [str(channel["channel_id"]), "webhook", "ops", "hook", "yes"]
    assert "s3cret" not in ok(fleet.tbx("channels", "list", "--json")).stdout
    ok(fleet.tbx("schedules", "delete", str(sid), "--yes"))
