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
