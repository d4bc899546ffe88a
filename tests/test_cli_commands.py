"""``tbx`` against a real server and real agents: every tool, output mode, exit code and error."""

import contextlib
import csv
import io
import json
import os
import stat

import pytest

from tests.cli_fleet import ADMIN, Fleet, call
from tests.field_servers import closed_port, dns_responder, http_server, listening_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    fleet = Fleet(tmp_path_factory.mktemp("cli"))
    yield fleet
    fleet.stop()


def ok(result, code=0):
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    return result


@contextlib.contextmanager
def dns_on_53():
    """The tests' DNS responder on 127.0.0.1:53, where dig's ``server`` parameter sends queries."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(dns_responder(53))
        except OSError as error:
            pytest.skip(f"cannot listen on 127.0.0.1:53 ({error})")
        yield


def test_ping_in_a_pipe_prints_plain_lines_and_exits_0(fleet):
    result = ok(fleet.tbx("ping", "127.0.0.1", "--count", "2", "--from", "lab-1,lab-2"))
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Job #") and "ping 127.0.0.1 from lab-1, lab-2" in lines[0]
    assert any(line.startswith("lab-1") and " ok " in line and "2/2 replies" in line for line in lines)
    assert any(line.startswith("lab-2") and " ok " in line for line in lines)
    assert "done: 2 ok" in result.stdout
    assert "\x1b" not in result.stdout and result.stderr == ""  # --ci by itself: no colour, no cursor


def test_tcp_to_a_closed_port_exits_1_and_to_an_open_one_0(fleet):
    with closed_port() as port:
        result = ok(fleet.tbx("tcp", "127.0.0.1", "--port", str(port), "--from", "tag:site:lab"), 1)
    assert "connection refused" in result.stdout and "2 failed" in result.stdout
    with listening_port() as port:
        result = ok(fleet.tbx("tcp", "127.0.0.1", "--port", str(port), "--from", "lab-1"))
    assert " ok " in result.stdout and "open" in result.stdout


def test_curl_dig_and_the_field_agent(fleet):
    with http_server() as port:
        result = ok(fleet.tbx("curl", f"http://127.0.0.1:{port}/", "--from", "lab-1", "--ci"))
        assert result.stdout.splitlines()[1].split()[:2] == ["lab-1", "ok"] and "HTTP 200 in" in result.stdout
        result = ok(fleet.tbx("curl", f"http://127.0.0.1:{port}/missing", "--from", "lab-1"), 1)
        assert "HTTP 404" in result.stdout
    result = ok(fleet.tbx("ping", "127.0.0.1", "--count", "1", "--from", "tag:field:yes"))
    assert result.stdout.splitlines()[1].startswith("field-1")
    with dns_on_53():
        result = ok(fleet.tbx("dig", "two.toolbox.test", "--server", "127.0.0.1", "--record-type", "a",
                              "--from", "lab-2"))
        assert "127.0.0.1" in result.stdout
        ok(fleet.tbx("dig", "servfail.toolbox.test", "--server", "127.0.0.1", "--from", "lab-2"), 1)


def test_traceroute_and_mtr_print_the_path_view(fleet):
    for tool in ("traceroute", "mtr"):
        args = [tool, "127.0.0.1", "--from", "tag:site:lab"] + (["--count", "1"] if tool == "mtr" else [])
        result = ok(fleet.tbx(*args))
        text = result.stdout
        assert "Paths:" in text, text
        assert "Shared hops: 127.0.0.1 (lab-1, lab-2)." in text
        assert any(line.strip().startswith("1  127.0.0.1") for line in text.splitlines())


def test_json_prints_the_job_document_alone(fleet):
    result = ok(fleet.tbx("ping", "127.0.0.1", "--count", "2", "--tool-interval", "0.2", "--from", "lab-1",
                          "--json", "--share"))
    job = json.loads(result.stdout)  # nothing else on stdout
    assert job["tool"] == "ping" and job["state"] == "done" and job["tasks"][0]["outcome"] == "ok"
    assert job["params"]["interval"] == 0.2 and job["tasks"][0]["command"].endswith(" -i 0.2 127.0.0.1")
    assert job == call(f"{fleet.url}/api/jobs/{job['job_id']}") | {"state": "done"}
    assert result.stderr.strip() == f"{fleet.url}/#/jobs/{job['job_id']}"  # --share, off stdout


def test_csv_share_and_ci_combine(fleet):
    result = ok(fleet.tbx("ping", "127.0.0.1", "--count", "1", "--from", "tag:site:lab", "--csv"))
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sorted(row["agent"] for row in rows) == ["lab-1", "lab-2"]
    result = ok(fleet.tbx("ping", "127.0.0.1", "--count", "1", "--from", "lab-1", "--ci", "--share"))
    job_id = result.stdout.split()[1].strip("#:")
    assert result.stdout.splitlines()[-1] == f"{fleet.url}/#/jobs/{job_id}"


def test_repeat_keeps_running_statistics_on_the_same_agents(fleet):
    result = ok(fleet.tbx("ping", "127.0.0.1", "--count", "1", "--from", "tag:isp:telecom", "--repeat", "3",
                          "--interval", "0"))
    text = result.stdout
    assert text.count("Job #") >= 3 and "After 3 runs (rtt avg, ms):" in text
    assert any(line.strip().startswith("lab-2  ok 3/3  min ") for line in text.splitlines())
    result = ok(fleet.tbx("ping", "127.0.0.1", "--count", "1", "--from", "lab-1", "--repeat", "2", "--interval",
                          "0", "--json"))
    jobs = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(jobs) == 2 and jobs[0]["job_id"] != jobs[1]["job_id"] and jobs[1]["agents"] == ["lab-1"]


def test_jobs_commands_and_references(fleet):
    first = json.loads(ok(fleet.tbx("ping", "127.0.0.1", "--count", "1", "--from", "lab-1", "--json")).stdout)
    second = json.loads(ok(fleet.tbx("tcp", "127.0.0.1", "--port", "1", "--from", "lab-1", "--json"), 1).stdout)
    shown = ok(fleet.tbx("jobs", "show", "@last"), 1)  # the tcp job failed
    assert shown.stdout.startswith(f"Job #{second['job_id']}: tcp")
    assert json.loads(ok(fleet.tbx("jobs", "show", "@-2", "--json")).stdout)["job_id"] == first["job_id"]
    assert json.loads(ok(fleet.tbx("jobs", "show", str(first["job_id"]), "--json")).stdout)["tool"] == "ping"
    listed = ok(fleet.tbx("jobs", "list", "--mine", "--limit", "2")).stdout.splitlines()
    assert listed[1].split()[0] == str(second["job_id"]) and listed[2].split()[0] == str(first["job_id"])
    exported = ok(fleet.tbx("jobs", "export", "@-2", "--format", "json")).stdout
    assert json.loads(exported)["job_id"] == first["job_id"]
    assert "agent" in ok(fleet.tbx("jobs", "export", "last", "--format", "csv")).stdout.splitlines()[0]
    assert "at most @-500" in ok(fleet.tbx("jobs", "show", "@-999"), 2).stderr
    assert "you have started" in ok(fleet.tbx("jobs", "show", "@-500"), 2).stderr
    assert "a job number, @last or @-N" in ok(fleet.tbx("jobs", "show", "yesterday"), 2).stderr
    assert "job not found" in ok(fleet.tbx("jobs", "show", "999999"), 2).stderr
    # A job on the agent that never connects stays running: cancel it.
    started = call(fleet.url + "/api/jobs", "POST", {"tool": "ping", "params": {"target": "127.0.0.1"},
                                                      "agents": ["ghost"]})
    result = ok(fleet.tbx("jobs", "cancel", str(started["job_id"])))
    assert result.stdout.startswith(f"Job #{started['job_id']} canceled")
    assert "409" in ok(fleet.tbx("jobs", "cancel", str(started["job_id"])), 2).stderr


def test_agents_commands(fleet):
    listed = ok(fleet.tbx("agents", "list", "--tag", "site:lab")).stdout.splitlines()
    assert [line.split()[0] for line in listed] == ["name", "lab-1", "lab-2"]
    token = ok(fleet.tbx("agents", "add", "extra-1", "--tag", "site:x")).stdout.strip()
    assert len(token) > 20
    assert "tags: site:x" in ok(fleet.tbx("agents", "show", "extra-1")).stdout
    assert ok(fleet.tbx("agents", "disable", "extra-1")).stdout.strip() == "extra-1: disabled"
    assert call(fleet.url + "/api/agents/extra-1")["disabled"] is True
    assert ok(fleet.tbx("agents", "enable", "extra-1")).stdout.strip() == "extra-1: enabled"
    new = ok(fleet.tbx("agents", "reset-token", "extra-1")).stdout.strip()
    assert new and new != token
    ok(fleet.tbx("agents", "delete", "extra-1"), 130)  # no --yes and no terminal to ask: nothing happens
    assert call(fleet.url + "/api/agents/extra-1")["name"] == "extra-1"
    assert ok(fleet.tbx("agents", "delete", "extra-1", "--yes")).stdout.strip() == "extra-1: deleted"
    assert "agent not found" in ok(fleet.tbx("agents", "show", "extra-1"), 2).stderr


def test_usage_errors_exit_2_with_one_line(fleet):
    for args in (["ping", "127.0.0.1", "--count", "99"], ["ping"], ["ping", "127.0.0.1", "--bogus"],
                 ["ping", "127.0.0.1", "--from", "lab-1,tag:site:lab"], ["ping", "127.0.0.1", "--json", "--csv"],
                 ["nosuchtool", "x"], ["dig", "x.test", "--record-type", "ZZZ"]):
        result = ok(fleet.tbx(*args), 2)
        assert result.stdout == "" and "Error:" in result.stderr, args
    result = ok(fleet.tbx("ping", "127.0.0.1", "--from", "nobody"), 2)
    assert result.stderr.count("\n") == 1 and "404" in result.stderr and "nobody" in result.stderr
    result = ok(fleet.tbx("ping", "127.0.0.1", "--from", "lab-1", url="http://127.0.0.1:9"), 2)
    assert result.stderr.startswith("tbx: cannot reach the server at http://127.0.0.1:9")


def test_help_everywhere_lists_the_servers_tools(fleet):
    text = ok(fleet.tbx("--help")).stdout
    for name in ("ping", "traceroute", "mtr", "dig", "curl", "tcp", "jobs", "agents", "login", "whoami"):
        assert f"  {name} " in text, name
    assert "--max-hops" in ok(fleet.tbx("traceroute", "--help")).stdout
    assert "--record-type [a|aaaa|cname" in ok(fleet.tbx("dig", "--help")).stdout.lower()
    for args in (["jobs", "--help"], ["jobs", "export", "--help"], ["agents", "add", "--help"],
                 ["login", "--help"], ["completion", "--help"]):
        assert ok(fleet.tbx(*args)).stdout.startswith("Usage: tbx ")
    assert "_TBX_COMPLETE" in ok(fleet.tbx("completion", "bash")).stdout
    words = ok(fleet.tbx(_TBX_COMPLETE="bash_complete", COMP_WORDS="tbx tr", COMP_CWORD="1")).stdout
    assert "traceroute" in words


def test_login_stores_the_token_0600_and_whoami(fleet, tmp_path):
    config = fleet.workdir / "config" / "toolbox" / "config.json"
    result = ok(fleet.tbx("login", "--token", ADMIN, "--server", fleet.url, token=None, url=None))
    assert "Logged in to" in result.stdout
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(config.parent).st_mode) == 0o700
    assert json.loads(config.read_text()) == {"url": fleet.url, "token": ADMIN}
    who = ok(fleet.tbx("whoami", token=None, url=None)).stdout
    assert "(admin)" in who and f"token from {config}" in who
    os.chmod(config, 0o644)  # a second login from standard input puts the mode back
    ok(fleet.tbx("login", "--server", fleet.url, token=None, url=None, input=ADMIN + "\n"))
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    result = ok(fleet.tbx("whoami", token="tbx_not-a-real-token", url=None), 2)
    assert "run `tbx login`" in result.stderr and result.stderr.count("\n") == 1
    result = ok(fleet.tbx("login", "--token", "tbx_wrong", token=None, url=None), 2)
    assert "401" in result.stderr or "tbx login" in result.stderr
    assert json.loads(config.read_text())["token"] == ADMIN  # a refused token is not stored
    assert ok(fleet.tbx("logout", token=None, url=None)).stdout.strip() == "Token removed."
    assert "not logged in" in ok(fleet.tbx("whoami", token=None, url=None), 2).stderr


def test_a_429_says_when_to_retry(tmp_path):
    fleet = Fleet(tmp_path, server_env={"TOOLBOX_JOBS_PER_MINUTE": "1"})
    try:
        call(fleet.url + "/api/jobs", "POST", {"tool": "ping", "params": {"target": "127.0.0.1", "count": 1},
                                               "agents": ["lab-1"]})
        result = ok(fleet.tbx("ping", "127.0.0.1", "--from", "lab-1"), 2)
        assert "too many requests" in result.stderr and "retry in" in result.stderr
        assert result.stderr.count("\n") == 1 and result.stdout == ""
    finally:
        fleet.stop()
