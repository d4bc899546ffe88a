"""Every tool's Linux command, run the way the deployed field agent runs it, then read.

The field agent (shared/legacy-agent.md section 3) splits the command on whitespace and
runs it without a shell; it keeps standard output only, collapses all whitespace into
single spaces, sends no exit code, and exits itself when the command exits non-zero.
Each case here builds the field agent's command (``build_command(..., field=True)``: the
tool under toolbox.tools.field_wrap's Perl wrapper) for a 127.0.0.1 target, runs it
exactly so, asserts that it exits 0 (the field agent lives on) and checks what
``read_result`` makes of it.  Failure cases also run the plain command the way
toolbox-agent does (standard error merged, the exit code sent) and check that both
agents' results read the same.

Servers come from tests/field_servers.py; nothing but 127.0.0.1 is ever contacted.
Unknown-host and unreachable-network cases run inside an empty network namespace
(``field_servers.empty_network``), where a name lookup fails on the spot, so no query
leaves the machine.  A case is skipped only when its program is not installed (.ci/run
installs them all) or, for those, where user namespaces are not available.
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


def _program(argv):
    """The tool's program in a field agent's argv (after the wrapper's ``--``)."""
    return argv[argv.index("--") + 1] if argv[0] == "perl" and "--" in argv else argv[0]


def _run(tool, params, argv, stderr, timeout_slack=30):
    if not shutil.which(_program(argv)):
        pytest.skip(f"{_program(argv)} is not installed")
    limit = time_limit(tool, params, "linux")
    started = time.monotonic()
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                          timeout=limit + timeout_slack)
    elapsed = time.monotonic() - started
    assert elapsed <= limit + START_SLACK_SECONDS, (argv, elapsed, limit)
    return proc


def field_run(tool, params, extra_args=(), prefix=()):
    """Run the field agent's Linux command as it does; return its one-line output.

    It must exit 0: a field agent dies on anything else."""
    command = build_command(tool, params, "linux", field=True)
    argv = command.split()
    assert " ".join(argv) == command and argv[:2] == ["perl", "-e"]  # the wrapper is one token
    proc = _run(tool, params, list(prefix) + argv + list(extra_args), subprocess.DEVNULL)
    assert proc.returncode == 0, (command, proc.returncode)
    return " ".join(proc.stdout.decode("utf-8", "replace").split())


def read(tool, output, target=LOCAL):
    """What the server makes of a field agent's result (no exit code comes with it)."""
    return read_result(tool, output, target=target)


def reference_reading(tool, params, extra_args=(), prefix=(), target=LOCAL):
    """The plain command, run and read as toolbox-agent's result: stderr merged, exit code sent."""
    argv = build_command(tool, params, "linux").split()
    proc = _run(tool, params, list(prefix) + argv + list(extra_args), subprocess.STDOUT)
    return read_result(tool, proc.stdout.decode("utf-8", "replace"), proc.returncode, target)


def assert_failure(tool, params, summary, extra_args=(), prefix=(), target=LOCAL):
    """The field agent lives and reads ``(failed, summary)``; toolbox-agent reads the same."""
    reading = read(tool, field_run(tool, params, extra_args, prefix), target)
    assert (reading.outcome, reading.summary) == (FAILED, summary)
    reference = reference_reading(tool, params, extra_args, prefix, target)
    assert (reference.outcome, reference.summary) == (FAILED, summary)
    return reading


# --- ping, traceroute, mtr ---


def test_ping_localhost():
    output = field_run("ping", {"target": LOCAL, "count": 2, "timeout": 1})
    reading = read("ping", output)
    assert reading.outcome == OK and reading.summary.startswith("2/2 replies, avg ")
    parsed = reading.parsed
    assert (parsed["target"], parsed["address"]) == (LOCAL, LOCAL)
    assert (parsed["transmitted"], parsed["received"], parsed["loss_pct"]) == (2, 2, 0.0)
    assert len(parsed["replies"]) == 2 and 0 < parsed["rtt_avg_ms"] < 1000
    assert "0.00 " not in reading.summary  # sub-millisecond times stay visible


def test_traceroute_localhost():
    output = field_run("traceroute", {"target": LOCAL, "max_hops": 3, "timeout": 1})
    reading = read("traceroute", output)
    assert (reading.outcome, reading.summary) == (OK, "reached 127.0.0.1 in 1 hop")
    hop = reading.parsed["hops"][0]
    assert (hop["hop"], hop["address"], hop["loss"], len(hop["rtt_ms"])) == (1, LOCAL, False, 3)
    assert reading.parsed["reached"] is True


def test_mtr_localhost():
    output = field_run("mtr", {"target": LOCAL, "count": 1})
    reading = read("mtr", output)
    assert reading.outcome == OK
    assert reading.summary.startswith("1 hop, final 127.0.0.1: 0% loss, avg ")
    hop = reading.parsed["hops"][-1]
    assert (hop["address"], hop["loss_pct"], hop["sent"]) == (LOCAL, 0.0, 1)


# --- curl ---


def test_curl_http_200_and_404():
    with servers.http_server() as port:
        output = field_run("curl", {"url": f"http://{LOCAL}:{port}/", "timeout": 5})
        reading = read("curl", output)
        assert reading.outcome == OK and reading.summary.startswith("HTTP 200 in ")
        parsed = reading.parsed
        assert (parsed["http_status"], parsed["remote_ip"], parsed["size_bytes"]) == (200, LOCAL, 3)
        assert parsed["exit_code"] in (0, None)  # None on a curl older than 7.75
        assert parsed["error"] is None and parsed["tls_ms"] is None
        assert 0 < parsed["connect_ms"] <= parsed["ttfb_ms"] <= parsed["total_ms"]

        output = field_run("curl", {"url": f"http://{LOCAL}:{port}/missing", "timeout": 5})
        reading = read("curl", output)
        assert reading.outcome == FAILED and reading.summary.startswith("HTTP 404 in ")
        assert reading.parsed["http_status"] == 404 and reading.parsed["size_bytes"] == 10


def test_curl_refused():
    with servers.closed_port() as port:
        url = {"url": f"http://{LOCAL}:{port}/", "timeout": 5}
        reading = assert_failure("curl", url, f"could not connect to {LOCAL} port {port}")
    assert reading.parsed["http_status"] == 0 and reading.parsed["exit_code"] == 7


def test_curl_timeout():
    with servers.unanswered_port() as port:
        url = {"url": f"http://{LOCAL}:{port}/", "timeout": 1}
        reading = assert_failure("curl", url, "timed out after 1 s")
    assert reading.parsed["http_status"] == 0
    # curl's own clock ends a --max-time transfer within a few ms of the limit, either side
    # of it (999.88 ms in one CI run): the point is that it waited the second, not longer.
    assert 950 <= reading.parsed["total_ms"] < 1000 + 1000 * START_SLACK_SECONDS


# --- tcp ---


def test_tcp_open():
    with servers.listening_port() as port:
        output = field_run("tcp", {"target": LOCAL, "port": port})
    reading = read("tcp", output)
    parsed = reading.parsed
    assert (parsed["host"], parsed["address"], parsed["port"], parsed["open"]) == (LOCAL, LOCAL, port, True)
    assert reading.outcome == OK and reading.summary.startswith(f"port {port} open")
    # Perl's Time::HiRes gives the connect time; Perl's base modules alone do not.
    assert parsed["connect_ms"] is None or 0 < parsed["connect_ms"] < 1000


def test_tcp_refused():
    with servers.closed_port() as port:
        output = field_run("tcp", {"target": LOCAL, "port": port})
    reading = read("tcp", output)
    assert (reading.outcome, reading.summary) == (FAILED, f"port {port}: connection refused")
    assert (reading.parsed["open"], reading.parsed["error"]) == (False, "connection refused")


def test_tcp_timeout():
    with servers.unanswered_port() as port:
        output = field_run("tcp", {"target": LOCAL, "port": port, "timeout": 1})
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
        output = dig_run("two.toolbox.test", port)
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
            output = dig_run(name, port)
            reading = read("dig", output, target=name)
            assert (reading.outcome, reading.summary) == (FAILED, status)
            assert reading.parsed["answers"] == []


def test_dig_no_server_reached():
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind((LOCAL, 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now: the query is refused at once
    server = {"target": "two.toolbox.test", "server": LOCAL}
    assert_failure("dig", server, "no DNS server reached", extra_args=("-p", str(port)))


# --- where no packet can leave: unknown hosts and an unreachable network ---

NO_NAME = "nosuch.invalid"  # RFC 6761: never a real name; looked up in an empty namespace only


@pytest.mark.parametrize("tool, params, summary", [
    ("ping", {"target": NO_NAME, "count": 1, "timeout": 1}, f"unknown host {NO_NAME}"),
    ("traceroute", {"target": NO_NAME, "max_hops": 2, "timeout": 1}, f"unknown host {NO_NAME}"),
    ("mtr", {"target": NO_NAME, "count": 1}, f"unknown host {NO_NAME}"),
    ("curl", {"url": f"http://{NO_NAME}/", "timeout": 2}, f"unknown host {NO_NAME}"),
    ("tcp", {"target": NO_NAME, "port": 80, "timeout": 1}, f"unknown host {NO_NAME}"),
    ("dig", {"target": NO_NAME}, "no DNS server reached"),  # the agent's resolver is out of reach
    ("ping", {"target": LOCAL, "count": 1, "timeout": 1}, "connect: Network is unreachable"),
    ("traceroute", {"target": LOCAL, "max_hops": 2, "timeout": 1}, "Network is unreachable"),
    ("mtr", {"target": LOCAL, "count": 1}, "udp socket connect failed: Network is unreachable"),
    ("tcp", {"target": LOCAL, "port": 80, "timeout": 1}, "port 80: Network is unreachable"),
])
def test_failures_without_a_network(tool, params, summary):
    prefix = servers.empty_network()
    if prefix is None:
        pytest.skip("unshare -rn (user namespaces) is not available")
    assert_failure(tool, params, summary, prefix=prefix, target=params.get("target", NO_NAME))
