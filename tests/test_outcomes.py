"""Tests for toolbox.tools.outcomes: every sample output read into an outcome and a summary.

Each sample in tests/samples is read as the reference agent sends it (multi-line) and
as the field agent sends it (all whitespace collapsed into single spaces): both must
give the same reading.  Then the exit-code rules, raw commands, and the wording helpers.
"""

import pathlib

import pytest

from toolbox.tools.outcomes import FAILED, OK, PARTIAL, SUMMARY_MAX, Reading, format_ms, read_result
from toolbox.tools.parsers import parse_result

SAMPLES = pathlib.Path(__file__).parent / "samples"
TOOL_OF_PREFIX = {"tracert": "traceroute", "nslookup": "dig"}

READINGS = {
    # --- curl ---
    "curl_https.txt": (OK, "HTTP 200 in 99.0 ms"),
    "curl_http_redirect.txt": (OK, "HTTP 301 in 30.3 ms"),
    "curl_resolve_error.txt": (FAILED, "unknown host nosuch.example"),
    "curl_timeout.txt": (FAILED, "timed out after 3 s"),
    "curl_writeout_200.txt": (OK, "HTTP 200 in 1.62 ms"),
    "curl_writeout_404.txt": (FAILED, "HTTP 404 in 1.76 ms"),
    # curl 7.88 says "Couldn't connect to server", not why: no "refused" is made up.
    "curl_writeout_refused.txt": (FAILED, "could not connect to 127.0.0.1 port 46049"),
    "curl_writeout_timeout.txt": (FAILED, "timed out after 1 s"),
    "curl_writeout_unknown.txt": (FAILED, "unknown host nosuch.example"),
    # --- dig / nslookup ---
    "dig_full.txt": (OK, "1 A record in 12 ms: 93.184.216.34"),
    "dig_full_cname.txt": (OK, "2 records (CNAME, A) in 24 ms: github.com., 140.82.112.3"),
    "dig_full_mx_txt.txt": (OK, '2 records (MX, TXT) in 8 ms: 10 smtp.google.com., '
                                '"v=spf1 include:_spf.google.com ~all"'),
    "dig_short_stats.txt": (OK, "2 A records in 3 ms: 93.184.216.34, 93.184.216.35"),
    "dig_two_a.txt": (OK, "2 A records in <1 ms: 127.0.0.1, 127.0.0.2"),
    "dig_nxdomain.txt": (FAILED, "NXDOMAIN"),
    "dig_servfail.txt": (FAILED, "SERVFAIL"),
    "dig_refused.txt": (FAILED, "REFUSED"),
    "dig_timeout.txt": (FAILED, "no DNS server reached"),
    "dig_no_server_refused.txt": (FAILED, "no DNS server reached"),
    "nslookup_linux.txt": (OK, "2 records (CNAME, A): github.com., 140.82.112.3"),
    "nslookup_windows_en.txt": (OK, "2 records (AAAA, A): 2606:2800:220:1:248:1893:25c8:1946, "
                                    "93.184.216.34"),
    "nslookup_windows_zh.txt": (OK, "3 records (A, CNAME): 14.215.177.39, 14.215.177.38, "
                                    "www.a.shifen.com"),
    "nslookup_windows_nxdomain.txt": (FAILED, "NXDOMAIN"),
    # --- mtr ---
    "mtr_report.txt": (OK, "5 hops, final 93.184.216.34: 0% loss, avg 11.5 ms"),
    "mtr_report_as.txt": (OK, "2 hops, final 1.1.1.1: 0% loss, avg 5 ms"),
    "mtr_report_both.txt": (OK, "3 hops, final 1.1.1.1: 0% loss, avg 4.9 ms"),
    "mtr_report_wide.txt": (OK, "5 hops, final one.one.one.one: 0% loss, avg 5 ms"),
    "mtr_report_local.txt": (OK, "1 hop, final 127.0.0.1: 0% loss, avg 0.1 ms"),
    "mtr_report_final_loss.txt": (PARTIAL, "5 hops, final 93.184.216.34: 20% loss, avg 11.5 ms"),
    "mtr_report_noreply.txt": (FAILED, "no hop answered"),
    # --- ping ---
    "ping_linux.txt": (OK, "4/4 replies, avg 11.5 ms"),
    "ping_linux_local.txt": (OK, "4/4 replies, avg 0.028 ms"),
    "ping_linux_ipv6.txt": (OK, "2/2 replies, avg 1.89 ms"),
    "ping_linux_loss.txt": (PARTIAL, "3/4 replies (25% loss), avg 3.26 ms"),
    "ping_linux_timeout.txt": (FAILED, "no reply: 0/4 (100% loss)"),
    "ping_linux_unreachable.txt": (FAILED, "no reply: 0/4 (100% loss)"),
    "ping_linux_unknown.txt": (FAILED, "unknown host nosuch.example"),
    "ping_macos.txt": (PARTIAL, "3/4 replies (25% loss), avg 88.1 ms"),
    "ping_macos_unknown.txt": (FAILED, "unknown host nosuch.example"),
    "ping_busybox.txt": (OK, "3/3 replies, avg 3.46 ms"),
    "ping_windows_en.txt": (OK, "4/4 replies, avg 11 ms"),
    "ping_windows_en_lan.txt": (PARTIAL, "3/4 replies (25% loss), avg <1 ms"),
    "ping_windows_en_timeout.txt": (FAILED, "no reply: 0/4 (100% loss)"),
    "ping_windows_en_unreachable.txt": (FAILED, "no reply: 0/4 (100% loss)"),
    "ping_windows_en_unknown.txt": (FAILED, "unknown host nosuch.example"),
    "ping_windows_zh.txt": (OK, "4/4 replies, avg 3 ms"),
    "ping_windows_zh_name.txt": (PARTIAL, "3/4 replies (25% loss), avg 28 ms"),
    "ping_windows_zh_timeout.txt": (FAILED, "no reply: 0/4 (100% loss)"),
    "ping_windows_zh_unknown.txt": (FAILED, "unknown host nosuch.example"),
    # --- tcp ---
    "tcp_perl_open.txt": (OK, "port 53765 open, connect 0.996 ms"),
    "tcp_perl_open_perl_base.txt": (OK, "port 57711 open"),
    "tcp_perl_refused.txt": (FAILED, "port 49699: connection refused"),
    "tcp_perl_timeout.txt": (FAILED, "port 54643: timed out"),
    "tcp_perl_unknown.txt": (FAILED, "unknown host nosuch.example"),
    "tcp_nc_openbsd_open.txt": (OK, "port 22 open"),
    "tcp_nc_openbsd_open_name.txt": (OK, "port 443 open"),
    "tcp_nc_macos_open.txt": (OK, "port 22 open"),
    "tcp_nc_openbsd_refused.txt": (FAILED, "port 1: connection refused"),
    "tcp_nc_openbsd_timeout.txt": (FAILED, "port 80: timed out"),
    "tcp_nc_openbsd_unknown.txt": (FAILED, "unknown host nosuch.example"),
    "tcp_nc_traditional_open.txt": (OK, "port 80 open"),
    "tcp_nc_traditional_refused.txt": (FAILED, "port 1: connection refused"),
    "tcp_tnc_open.txt": (OK, "port 443 open"),
    "tcp_tnc_closed_zh.txt": (FAILED, "port 81 closed (connection failed)"),
    "tcp_tnc_unknown.txt": (FAILED, "unknown host nosuch.example"),
    # --- traceroute / tracert: a silent hop makes the answer partial ---
    "traceroute_linux.txt": (PARTIAL, "reached 93.184.216.34 in 6 hops, 1 unanswered"),
    "traceroute_linux_n.txt": (PARTIAL, "reached 1.1.1.1 in 6 hops, 2 unanswered"),
    "traceroute_linux_local.txt": (OK, "reached 127.0.0.1 in 1 hop"),
    "traceroute_linux_first_star.txt": (OK, "reached 131.232.1.26 in 2 hops"),
    # Without the task's target, a headerless trace cannot say it got there.
    "traceroute_linux_headerless.txt": (PARTIAL, "6 hops, 2 unanswered, destination not reached"),
    "traceroute_linux_unreached.txt": (PARTIAL, "5 hops, 3 unanswered, destination not reached"),
    "traceroute_linux_unknown.txt": (FAILED, "unknown host nosuch.example"),
    "tracert_windows_en.txt": (PARTIAL, "reached 93.184.216.34 in 6 hops, 1 unanswered"),
    "tracert_windows_en_d.txt": (OK, "reached 8.8.8.8 in 4 hops"),
    "tracert_windows_zh.txt": (PARTIAL, "reached 14.215.177.38 in 5 hops, 1 unanswered"),
    "tracert_windows_zh_d.txt": (PARTIAL, "3 hops, 2 unanswered, destination not reached"),
    "tracert_windows_zh_unknown.txt": (FAILED, "unknown host nosuch.example"),
}


def _read(name):
    return (SAMPLES / name).read_text(encoding="utf-8")


def _collapse(raw):
    """What the field agent sends: every whitespace run turned into one space."""
    return " ".join(raw.split())


def _tool(name):
    prefix = name.split("_")[0]
    return TOOL_OF_PREFIX.get(prefix, prefix)


def test_every_sample_has_a_reading():
    assert sorted(p.name for p in SAMPLES.glob("*.txt")) == sorted(READINGS)


@pytest.mark.parametrize("name", sorted(READINGS))
def test_sample_reading(name):
    raw = _read(name)
    reading = read_result(_tool(name), raw)
    assert isinstance(reading, Reading)
    assert (reading.outcome, reading.summary) == READINGS[name]
    assert reading.parsed == parse_result(_tool(name), raw)
    assert len(reading.summary) <= SUMMARY_MAX and "\n" not in reading.summary


@pytest.mark.parametrize("name", sorted(READINGS))
def test_collapsed_sample_reads_the_same(name):
    raw = _read(name)
    assert read_result(_tool(name), _collapse(raw)) == read_result(_tool(name), raw)


# --- The target, for output that leaves it out ---


def test_headerless_traceroute_with_its_target():
    raw = _read("traceroute_linux_headerless.txt")
    for text in (raw, _collapse(raw)):
        reading = read_result("traceroute", text, target="1.1.1.1")
        assert (reading.outcome, reading.summary) == (PARTIAL, "reached 1.1.1.1 in 6 hops, 2 unanswered")
        assert reading.parsed["reached"] is True
    # A hostname the -n output cannot confirm: the trace ends with an answering hop.
    reading = read_result("traceroute", raw, target="one.one.one.one")
    assert reading.parsed["reached"] is None
    assert (reading.outcome, reading.summary) == (PARTIAL, "6 hops, 2 unanswered, last hop 1.1.1.1")
    clean = " 1  192.168.1.1  0.421 ms  0.398 ms  0.377 ms\n 2  1.1.1.1  4.873 ms  4.861 ms  4.849 ms\n"
    assert read_result("traceroute", clean, target="one.one.one.one")[1:] == (OK, "2 hops, last hop 1.1.1.1")
    silent_end = clean + " 3  * * *\n"
    assert read_result("traceroute", silent_end, target="one.one.one.one")[1:] == (
        PARTIAL, "3 hops, 1 unanswered, destination not reached")


def test_mtr_final_hop_that_is_not_the_target():
    raw = _read("mtr_report.txt")
    assert read_result("mtr", raw, target="93.184.216.34").outcome == OK
    reading = read_result("mtr", raw, target="93.184.216.99")
    assert (reading.outcome, reading.summary) == (
        PARTIAL, "5 hops, destination not reached (final hop 93.184.216.34)")
    silent_final = raw.replace("  5.|-- 93.184.216.34              0.0%    10   11.4  11.5  11.2  12.0   0.2",
                               "  5.|-- ???                       100.0    10    0.0   0.0   0.0   0.0   0.0")
    assert read_result("mtr", silent_final)[1:] == (
        PARTIAL, "5 hops, destination not reached (final hop 100% loss)")


def test_unknown_host_names_the_target_when_the_output_does_not():
    reading = read_result("mtr", "mtr: Failed to resolve host: nosuch.example: Name or service not known",
                          target="nosuch.example")
    assert (reading.outcome, reading.summary) == (FAILED, "unknown host nosuch.example")


# --- Empty and unreadable output of a tool task ---


@pytest.mark.parametrize("result", ["", "   ", None, 42])
def test_empty_output_of_a_tool_fails(result):
    reading = read_result("mtr", result)
    assert reading == Reading(None, FAILED, "no output (a field agent keeps standard output only)")
    assert read_result("mtr", result, exit_code=0) == Reading(None, FAILED, "no output")


def test_unreadable_output_of_a_tool_fails_with_its_first_words():
    reading = read_result("ping", "ping: socket: Operation not permitted\nmore text")
    assert reading.outcome == FAILED and reading.parsed is not None  # ping's own error line
    reading = read_result("dig", "Usage: dig [@global-server] [domain] [q-type]\nmore")
    assert reading == Reading(None, FAILED, "no readable answer: Usage: dig [@global-server] [domain] [q-type]")
    long = "x" * 500
    reading = read_result("curl", long)
    assert reading.summary.startswith("no readable answer: xxx") and len(reading.summary) == SUMMARY_MAX
    assert reading.summary.endswith("…")


# --- Exit codes (the reference agent sends them) ---


def test_exit_code_zero_changes_nothing():
    for name in ("ping_linux.txt", "dig_nxdomain.txt", "curl_writeout_404.txt", "tcp_perl_refused.txt"):
        assert read_result(_tool(name), _read(name), exit_code=0) == read_result(_tool(name), _read(name))


def test_non_zero_exit_after_a_good_answer_fails():
    reading = read_result("ping", _read("ping_linux_loss.txt"), exit_code=1)
    assert (reading.outcome, reading.summary) == (FAILED, "exit code 1; 3/4 replies (25% loss), avg 3.26 ms")
    assert reading.parsed["received"] == 3


def test_non_zero_exit_keeps_the_tools_own_failure():
    raw = _read("ping_linux_timeout.txt")  # Linux ping exits 1 when nothing came back
    assert read_result("ping", raw, exit_code=1)[1:] == (FAILED, "no reply: 0/4 (100% loss)")
    raw = _read("curl_writeout_refused.txt")  # curl exits 7
    assert read_result("curl", raw, exit_code=7)[1:] == (FAILED, "could not connect to 127.0.0.1 port 46049")
    raw = _read("dig_no_server_refused.txt")  # dig exits 9
    assert read_result("dig", raw, exit_code=9)[1:] == (FAILED, "no DNS server reached")


def test_time_limit_kill_says_how_long():
    raw = _read("traceroute_linux_unreached.txt") + "[toolbox-agent: command timed out after 60s]"
    reading = read_result("traceroute", raw, exit_code=124)
    assert (reading.outcome, reading.summary) == (
        FAILED, "timed out after 60 s; 5 hops, 3 unanswered, destination not reached")
    assert reading.parsed == parse_result("traceroute", _read("traceroute_linux_unreached.txt"))
    assert read_result("ping", "", exit_code=124) == Reading(None, FAILED, "exit code 124")
    note = "[toolbox-agent: command timed out after 2.5s]"
    assert read_result("echo hi", "hi\n" + note, exit_code=124)[1:] == (FAILED, "timed out after 2.5 s: hi")


def test_agent_notes_for_programs_that_cannot_run():
    reading = read_result("tcp", "[toolbox-agent: command not found: perl]", exit_code=127)
    assert reading == Reading(None, FAILED, "command not found: perl")
    reading = read_result("uptime", "[toolbox-agent: permission denied: uptime]", exit_code=126)
    assert reading == Reading(None, FAILED, "permission denied: uptime")


def test_notes_are_not_parsed():
    raw = _read("ping_linux.txt") + "[toolbox-agent: output truncated at 65536 bytes]"
    assert read_result("ping", raw) == read_result("ping", _read("ping_linux.txt"))


# --- Raw commands ---


def test_raw_command_without_a_parser():
    assert read_result("uptime", " 10:21:33 up 3 days,  2:01,  1 user\n") == Reading(
        None, OK, "10:21:33 up 3 days, 2:01, 1 user")
    assert read_result("uptime", " 10:21:33 up 3 days", exit_code=0) == Reading(None, OK, "10:21:33 up 3 days")
    assert read_result("true", "") == Reading(None, OK, "no output")
    assert read_result("cat /nonexistent", "", exit_code=1) == Reading(None, FAILED, "exit code 1")
    assert read_result("cat /nonexistent", "cat: /nonexistent: No such file or directory\n",
                       exit_code=1) == Reading(None, FAILED,
                                               "exit code 1: cat: /nonexistent: No such file or directory")
    # The legacy agent collapses the output: the first "line" is all of it, clipped.
    words = " ".join(f"word{i}" for i in range(100))
    assert read_result("ls -l", words).summary == words[:SUMMARY_MAX - 1] + "…"


def test_raw_command_with_a_parser_reads_like_the_tool():
    raw = _read("ping_linux_loss.txt")
    assert read_result("ping -c 4 1.1.1.1", raw) == read_result("ping", raw)
    assert read_result("/usr/bin/dig example.com", _read("dig_nxdomain.txt"))[1:] == (FAILED, "NXDOMAIN")
    # dig +short prints bare addresses, which no parser reads: the exit code decides.
    assert read_result("dig +short example.com", "93.184.216.34\n") == Reading(None, OK, "93.184.216.34")


# --- Wording ---


@pytest.mark.parametrize("value,text", [
    (0.071, "0.071"), (0.0714, "0.0714"), (0.001, "0.001"), (0.0004, "<0.001"), (0.028, "0.028"),
    (3.21, "3.21"), (9.996, "10"), (12.0, "12"), (28.14, "28.1"), (99.94, "99.9"), (99.96, "100"), (123.4, "123"),
    (3001.5, "3002"), (0, "<1"), (0.0, "<1"), (None, "?"),
])
def test_format_ms(value, text):
    assert format_ms(value) == text


def test_curl_status_then_failure():
    raw = ("toolbox-curl:dns=0.001;connect=0.002;tls=0.010;ttfb=0.050;total=10.001;http=200;"
           "ip=127.0.0.1;size=1000;exit=28;error=Operation timed out after 10001 milliseconds")
    assert read_result("curl", raw)[1:] == (FAILED, "HTTP 200, then timed out after 10 s")


def test_old_curl_without_exit_code_still_reads():
    raw = ("toolbox-curl:dns=0.000012;connect=0.000000;tls=0.000000;ttfb=0.000000;"
           "total=0.000170;http=000;ip=;size=0;exit=;error=\n")
    assert read_result("curl", raw)[1:] == (FAILED, "no HTTP answer")
    ok = raw.replace("http=000", "http=204").replace("total=0.000170", "total=0.012")
    assert read_result("curl", ok)[1:] == (OK, "HTTP 204 in 12 ms")


def test_dig_without_records_is_an_answer():
    raw = _read("dig_nxdomain.txt").replace("status: NXDOMAIN", "status: NOERROR")
    assert read_result("dig", raw)[1:] == (OK, "no records in 28 ms (NOERROR)")
