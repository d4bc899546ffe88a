"""Every tool's Linux command, run the way the deployed field agent runs it, then read.

The field agent (shared/legacy-agent.md section 3) splits the command on whitespace and
runs it without a shell; it keeps standard output only, collapses all whitespace into
single spaces, sends no exit code, and exits itself when the command exits non-zero.
Each case here builds the command with ``build_command`` for a 127.0.0.1 target, runs
it exactly so, and checks what ``read_result`` makes of it.  The exit code is asserted
too: a case whose command still exits non-zero documents a failure the field agent
cannot report (it dies instead; the reference agent would send what is read here).

Servers come from tests/field_servers.py; nothing but 127.0.0.1 is ever contacted.  A
case is skipped only when its program is not installed (.ci/run installs them all).
"""

import shutil
import socket
import subprocess
import time

import pytest

from tests import field_servers as servers
from toolbox.tools.outcomes import FAILED, OK, read_result
from toolbox.tools.catalogue import build_command, time_limit

pytestmark = pytest.mark.slow

LOCAL = servers.LOCALHOST
# time_limit leaves starting the process to the caller's grace; this much is allowed.
START_SLACK_SECONDS = 2


def field_run(tool, params, extra_args=()):
    """Run the Linux command like the field agent; return (output, exit_code)."""
    command = build_command(tool, params, "linux")
    argv = command.split()
    if not shutil.which(argv[0]):
        pytest.skip(f"{argv[0]} is not installed")
    limit = time_limit(tool, params, "linux")
    started = time.monotonic()
    proc = subprocess.run(argv + list(extra_args), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          timeout=limit + 30)
    elapsed = time.monotonic() - started
    assert elapsed <= limit + START_SLACK_SECONDS, (command, elapsed, limit)
    return " ".join(proc.stdout.decode("utf-8", "replace").split()), proc.returncode


def read(tool, output, target=LOCAL):
    """What the server makes of a field agent's result (no exit code comes with it)."""
    return read_result(tool, output, target=target)


# --- ping, traceroute, mtr ---


def test_ping_localhost():
    output, code = field_run("ping", {"target": LOCAL, "count": 2, "timeout": 1})
    assert code == 0
    reading = read("ping", output)
    assert reading.outcome == OK and reading.summary.startswith("2/2 replies, avg ")
    parsed = reading.parsed
    assert (parsed["target"], parsed["address"]) == (LOCAL, LOCAL)
    assert (parsed["transmitted"], parsed["received"], parsed["loss_pct"]) == (2, 2, 0.0)
    assert len(parsed["replies"]) == 2 and 0 < parsed["rtt_avg_ms"] < 1000
    assert "0.00 " not in reading.summary  # sub-millisecond times stay visible


def test_traceroute_localhost():
    output, code = field_run("traceroute", {"target": LOCAL, "max_hops": 3, "timeout": 1})
    assert code == 0
    reading = read("traceroute", output)
    assert (reading.outcome, reading.summary) == (OK, "reached 127.0.0.1 in 1 hop")
    hop = reading.parsed["hops"][0]
    assert (hop["hop"], hop["address"], hop["loss"], len(hop["rtt_ms"])) == (1, LOCAL, False, 3)
    assert reading.parsed["reached"] is True


def test_mtr_localhost():
    output, code = field_run("mtr", {"target": LOCAL, "count": 1})
    assert code == 0
    reading = read("mtr", output)
    assert reading.outcome == OK
    assert reading.summary.startswith("1 hop, final 127.0.0.1: 0% loss, avg ")
    hop = reading.parsed["hops"][-1]
    assert (hop["address"], hop["loss_pct"], hop["sent"]) == (LOCAL, 0.0, 1)


# --- curl ---


def test_curl_http_200_and_404():
    with servers.http_server() as port:
        output, code = field_run("curl", {"url": f"http://{LOCAL}:{port}/", "timeout": 5})
        assert code == 0
        reading = read("curl", output)
        assert reading.outcome == OK and reading.summary.startswith("HTTP 200 in ")
        parsed = reading.parsed
        assert (parsed["http_status"], parsed["remote_ip"], parsed["size_bytes"]) == (200, LOCAL, 3)
        assert parsed["exit_code"] in (0, None)  # None on a curl older than 7.75
        assert parsed["error"] is None and parsed["tls_ms"] is None
        assert 0 < parsed["connect_ms"] <= parsed["ttfb_ms"] <= parsed["total_ms"]

        output, code = field_run("curl", {"url": f"http://{LOCAL}:{port}/missing", "timeout": 5})
        assert code == 0  # any HTTP status exits 0 (no --fail)
        reading = read("curl", output)
        assert reading.outcome == FAILED and reading.summary.startswith("HTTP 404 in ")
        assert reading.parsed["http_status"] == 404 and reading.parsed["size_bytes"] == 10


def test_curl_refused():
    with servers.closed_port() as port:
        output, code = field_run("curl", {"url": f"http://{LOCAL}:{port}/", "timeout": 5})
    assert code == 7  # still non-zero: the field agent dies here and reports nothing
    reading = read("curl", output)
    assert reading.outcome == FAILED
    assert reading.parsed["http_status"] == 0
    if reading.parsed["exit_code"] is not None:  # curl >= 7.75 says why on stdout
        assert reading.parsed["exit_code"] == 7
        assert reading.summary in ("connection refused", f"could not connect to {LOCAL} port {port}")


def test_curl_timeout():
    with servers.unanswered_port() as port:
        output, code = field_run("curl", {"url": f"http://{LOCAL}:{port}/", "timeout": 1})
    assert code == 28  # still non-zero
    reading = read("curl", output)
    assert reading.outcome == FAILED and reading.parsed["http_status"] == 0
    # curl's own clock ends a --max-time transfer within a few ms of the limit, either side
    # of it (999.88 ms in one CI run): the point is that it waited the second, not longer.
    assert 950 <= reading.parsed["total_ms"] < 1000 + 1000 * START_SLACK_SECONDS
    if reading.parsed["exit_code"] is not None:
        assert reading.summary == "timed out after 1 s"


# --- tcp ---


def test_tcp_open():
    with servers.listening_port() as port:
        output, code = field_run("tcp", {"target": LOCAL, "port": port})
    assert code == 0
    reading = read("tcp", output)
    parsed = reading.parsed
    assert (parsed["host"], parsed["address"], parsed["port"], parsed["open"]) == (LOCAL, LOCAL, port, True)
    assert reading.outcome == OK and reading.summary.startswith(f"port {port} open")
    # Perl's Time::HiRes gives the connect time; Perl's base modules alone do not.
    assert parsed["connect_ms"] is None or 0 < parsed["connect_ms"] < 1000


def test_tcp_refused():
    with servers.closed_port() as port:
        output, code = field_run("tcp", {"target": LOCAL, "port": port})
    assert code == 0  # the check exits 0 on every answer: the field agent reports it
    reading = read("tcp", output)
    assert (reading.outcome, reading.summary) == (FAILED, f"port {port}: connection refused")
    assert (reading.parsed["open"], reading.parsed["error"]) == (False, "connection refused")


def test_tcp_timeout():
    with servers.unanswered_port() as port:
        output, code = field_run("tcp", {"target": LOCAL, "port": port, "timeout": 1})
    assert code == 0
    reading = read("tcp", output)
    assert (reading.outcome, reading.summary) == (FAILED, f"port {port}: timed out")


def test_old_nc_command_leaves_the_field_agent_nothing():
    # What tcp ran before: every word of nc -z -v goes to standard error.
    if not shutil.which("nc"):
        pytest.skip("nc is not installed")
    with servers.listening_port() as port:
        proc = subprocess.run(["nc", "-z", "-v", "-w", "1", LOCAL, str(port)], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=10)
    assert (proc.stdout, proc.returncode) == (b"", 0)
    assert read("tcp", "")[1:] == (FAILED, "no output (a field agent keeps standard output only)")


# --- dig ---
# The dig template has no port parameter (DNS servers listen on 53, which a test cannot
# take), so the test appends dig's own "-p PORT" to reach its responder on a random port.


def dig_run(name, port):
    return field_run("dig", {"target": name, "server": LOCAL}, extra_args=("-p", str(port)))


def test_dig_answer_and_failures():
    with servers.dns_responder() as port:
        output, code = dig_run("two.toolbox.test", port)
        assert code == 0
        reading = read("dig", output, target="two.toolbox.test")
        assert reading.outcome == OK
        assert reading.summary.startswith("2 A records in ") and reading.summary.endswith(
            ": 127.0.0.1, 127.0.0.2")
        parsed = reading.parsed
        assert (parsed["status"], parsed["server"]) == ("NOERROR", LOCAL)
        assert [(a["name"], a["ttl"], a["type"], a["data"]) for a in parsed["answers"]] == [
            ("two.toolbox.test.", 300, "A", "127.0.0.1"), ("two.toolbox.test.", 300, "A", "127.0.0.2")]

        for name, status in (("nosuch.toolbox.test", "NXDOMAIN"), ("servfail.toolbox.test", "SERVFAIL"),
                             ("refused.toolbox.test", "REFUSED")):
            output, code = dig_run(name, port)
            assert code == 0, name  # a DNS error status is an answer: exit 0
            reading = read("dig", output, target=name)
            assert (reading.outcome, reading.summary) == (FAILED, status)
            assert reading.parsed["answers"] == []


def test_dig_no_server_reached():
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind((LOCAL, 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now: the query is refused at once
    output, code = dig_run("two.toolbox.test", port)
    assert code == 9  # still non-zero: the field agent dies here and reports nothing
    assert read("dig", output)[1:] == (FAILED, "no DNS server reached")
