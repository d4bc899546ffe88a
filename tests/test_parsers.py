"""Tests for toolbox.tools.parsers, driven by real-format tool outputs in tests/samples/.

Each sample is checked three ways: its numbers (a subset of the result), that the
legacy agent's whitespace-collapsed form gives exactly the same result, and that the
result is JSON-serialisable.  The tool name is the sample file's prefix.
"""

import json
import pathlib

import pytest

from toolbox.tools.parsers import (
    CURL_WRITE_OUT,
    parse_curl,
    parse_dig,
    parse_mtr,
    parse_nslookup,
    parse_ping,
    parse_result,
    parse_tcp,
    parse_traceroute,
)

SAMPLES = pathlib.Path(__file__).parent / "samples"

PING_NONE = {"rtt_min_ms": None, "rtt_avg_ms": None, "rtt_max_ms": None, "replies": []}
UNKNOWN = {"error": "unknown host", "target": "nosuch.example", "transmitted": None}
STAR = {"address": None, "host": None, "rtt_ms": [], "loss": True}

EXPECTED = {
    # --- ping ---
    "ping_linux.txt": {
        "kind": "ping", "target": "example.com", "address": "93.184.216.34",
        "transmitted": 4, "received": 4, "loss_pct": 0.0, "rtt_min_ms": 11.387,
        "rtt_avg_ms": 11.474, "rtt_max_ms": 11.612, "rtt_mdev_ms": 0.088,
        "replies": [11.6, 11.4, 11.5, 11.4], "error": None,
    },
    "ping_linux_loss.txt": {
        "target": "1.1.1.1", "address": "1.1.1.1", "transmitted": 4, "received": 3,
        "loss_pct": 25.0, "rtt_min_ms": 3.09, "rtt_mdev_ms": 0.163, "replies": [3.21, 3.48, 3.09],
    },
    "ping_linux_unreachable.txt": {"transmitted": 4, "received": 0, "loss_pct": 100, **PING_NONE},
    "ping_linux_timeout.txt": {"address": "10.255.255.1", "loss_pct": 100, **PING_NONE},
    "ping_linux_unknown.txt": {"kind": "ping", **UNKNOWN},
    "ping_linux_local.txt": {
        "target": "127.0.0.1", "address": "127.0.0.1", "transmitted": 4, "received": 4,
        "rtt_min_ms": 0.017, "rtt_avg_ms": 0.028, "replies": [0.02, 0.035, 0.041, 0.017],
    },
    "ping_linux_ipv6.txt": {
        "target": "google.com", "address": "2607:f8b0:4006:81c::200e", "received": 2,
        "rtt_avg_ms": 1.886, "replies": [1.82, 1.95],
    },
    "ping_macos.txt": {
        "target": "example.com", "transmitted": 4, "received": 3, "loss_pct": 25.0,
        "rtt_min_ms": 87.456, "rtt_avg_ms": 88.123, "rtt_max_ms": 88.789, "rtt_mdev_ms": 0.544,
    },
    "ping_macos_unknown.txt": UNKNOWN,
    "ping_busybox.txt": {
        "transmitted": 3, "received": 3, "loss_pct": 0.0, "rtt_avg_ms": 3.456,
        "rtt_mdev_ms": None, "replies": [3.456, 3.123, 3.789],
    },
    "ping_windows_en.txt": {
        "target": "example.com", "address": "93.184.216.34", "transmitted": 4, "received": 4,
        "loss_pct": 0.0, "rtt_min_ms": 11.0, "rtt_avg_ms": 11.0, "rtt_max_ms": 12.0,
        "rtt_mdev_ms": None, "replies": [11.0, 12.0, 11.0, 11.0],
    },
    "ping_windows_en_lan.txt": {
        "address": "192.168.1.1", "received": 3, "loss_pct": 25.0, "rtt_min_ms": 0.0,
        "rtt_max_ms": 1.0, "replies": [0.0, 1.0, 0.0],
    },
    "ping_windows_en_timeout.txt": {"transmitted": 4, "received": 0, "loss_pct": 100, **PING_NONE},
    # Windows counts "Destination host unreachable" as received: the parser does not.
    "ping_windows_en_unreachable.txt": {"transmitted": 4, "received": 0, "loss_pct": 100, **PING_NONE},
    "ping_windows_en_unknown.txt": UNKNOWN,
    "ping_windows_zh.txt": {
        "target": "1.1.1.1", "address": "1.1.1.1", "transmitted": 4, "received": 4,
        "loss_pct": 0.0, "rtt_min_ms": 3.0, "rtt_avg_ms": 3.0, "rtt_max_ms": 4.0,
        "replies": [3.0, 4.0, 3.0, 3.0], "error": None,
    },
    "ping_windows_zh_name.txt": {
        "target": "www.a.shifen.com", "address": "14.215.177.38", "received": 3,
        "loss_pct": 25.0, "rtt_min_ms": 27.0, "rtt_avg_ms": 28.0, "rtt_max_ms": 30.0,
    },
    "ping_windows_zh_timeout.txt": {"transmitted": 4, "received": 0, "loss_pct": 100, **PING_NONE},
    "ping_windows_zh_unknown.txt": UNKNOWN,
    # --- traceroute / tracert ---
    "traceroute_linux.txt": {
        "kind": "traceroute", "target": "example.com", "address": "93.184.216.34",
        "reached": True, "error": None,
        "hops": [
            {"hop": 1, "address": "192.168.1.1", "host": "_gateway", "rtt_ms": [0.512, 0.478, 0.455], "loss": False},
            {"hop": 2, "address": "10.10.0.1", "host": None, "rtt_ms": [8.123, 8.101, 8.087]},
            {"hop": 3, **STAR},
            {"hop": 4, "address": "129.250.2.1", "host": "ae-1.r01.nycmny01.us.bb.gin.ntt.net",
             "rtt_ms": [12.345, 12.301, 12.41]},
            {"hop": 5, "address": "152.195.65.153", "rtt_ms": [11.902, 11.877], "loss": False},
            {"hop": 6, "address": "93.184.216.34", "rtt_ms": [11.412, 11.398, 11.377]},
        ],
    },
    "traceroute_linux_n.txt": {
        "reached": True,
        "hops": [
            {"hop": 1, "address": "192.168.1.1", "host": None},
            {"hop": 2, "address": "100.64.0.1"},
            {"hop": 3, **STAR},
            {"hop": 4, **STAR},
            {"hop": 5, "address": "172.70.48.3", "rtt_ms": [5.102, 5.23, 5.011]},
            {"hop": 6, "address": "1.1.1.1", "rtt_ms": [4.873, 4.861, 4.849]},
        ],
    },
    "traceroute_linux_unreached.txt": {
        "reached": False,
        "hops": [
            {"hop": 1}, {"hop": 2, "address": "192.168.1.1", "rtt_ms": [3001.112, 3001.09, 3001.071]},
            {"hop": 3, **STAR}, {"hop": 4, **STAR}, {"hop": 5, **STAR},
        ],
    },
    # Hop 2's first probe timed out, the others answered.
    "traceroute_linux_first_star.txt": {
        "target": "131.232.1.26", "reached": True,
        "hops": [{"hop": 1, "address": "192.168.1.1"},
                 {"hop": 2, "address": "131.232.1.26", "host": None, "rtt_ms": [28.3, 27.9], "loss": False}],
    },
    # What a traceroute that prints its header on stderr leaves on stdout (the hops of
    # traceroute_linux_n.txt): without the task's target, reached cannot be True.
    "traceroute_linux_headerless.txt": {
        "target": None, "address": None, "reached": False,
        "hops": [{"hop": 1, "address": "192.168.1.1"}, {"hop": 2}, {"hop": 3, **STAR}, {"hop": 4, **STAR},
                 {"hop": 5, "address": "172.70.48.3"}, {"hop": 6, "address": "1.1.1.1"}],
    },
    "traceroute_linux_local.txt": {
        "target": "127.0.0.1", "address": "127.0.0.1", "reached": True,
        "hops": [{"hop": 1, "address": "127.0.0.1", "rtt_ms": [0.02, 0.007, 0.005], "loss": False}],
    },
    "traceroute_linux_unknown.txt": {"kind": "traceroute", "target": "nosuch.example", "hops": [], "error": "unknown host"},
    "tracert_windows_en.txt": {
        "target": "example.com", "address": "93.184.216.34", "reached": True,
        "hops": [
            {"hop": 1, "address": "192.168.1.1", "rtt_ms": [0.0, 0.0, 0.0], "loss": False},
            {"hop": 2, "address": "10.10.0.1", "rtt_ms": [8.0, 7.0, 8.0]},
            {"hop": 3, **STAR},
            {"hop": 4, "address": "129.250.2.1", "host": "ae-1.r01.nycmny01.us.bb.gin.ntt.net",
             "rtt_ms": [12.0, 12.0, 13.0]},
            {"hop": 5, "address": "152.195.65.153", "rtt_ms": [12.0, 11.0], "loss": False},
            {"hop": 6, "address": "93.184.216.34", "host": None, "rtt_ms": [11.0, 11.0, 11.0]},
        ],
    },
    "tracert_windows_en_d.txt": {
        "target": "8.8.8.8", "address": "8.8.8.8", "reached": True,
        "hops": [
            {"hop": 1, "address": "192.168.0.1", "rtt_ms": [1.0, 1.0, 1.0]},
            {"hop": 2, "address": "10.0.0.1", "rtt_ms": [2.0, 3.0, 2.0]},
            {"hop": 3, "address": "72.14.215.85", "rtt_ms": [3.0, 4.0, 3.0]},
            {"hop": 4, "address": "8.8.8.8", "rtt_ms": [4.0, 4.0, 4.0]},
        ],
    },
    "tracert_windows_zh.txt": {
        "target": "www.a.shifen.com", "address": "14.215.177.38", "reached": True,
        "hops": [
            {"hop": 1, "address": "192.168.1.1", "rtt_ms": [0.0, 0.0, 0.0]},
            {"hop": 2, "address": "100.64.0.1", "rtt_ms": [3.0, 2.0, 2.0]},
            {"hop": 3, **STAR},
            {"hop": 4, "address": "61.140.1.1", "rtt_ms": [5.0, 4.0, 4.0]},
            {"hop": 5, "address": "14.215.177.38", "rtt_ms": [27.0, 28.0, 27.0]},
        ],
    },
    "tracert_windows_zh_d.txt": {
        "target": "8.8.8.8", "reached": False,
        "hops": [{"hop": 1, "address": "192.168.1.1", "rtt_ms": [1.0, 0.0, 0.0]}, {"hop": 2, **STAR}, {"hop": 3, **STAR}],
    },
    "tracert_windows_zh_unknown.txt": {"target": "nosuch.example", "hops": [], "error": "unknown host"},
    # --- mtr ---
    "mtr_report.txt": {
        "kind": "mtr", "source": "probe-1",
        "hops": [
            {"hop": 1, "address": "192.168.1.1", "loss_pct": 0.0, "sent": 10, "last_ms": 0.5,
             "avg_ms": 0.5, "best_ms": 0.4, "worst_ms": 0.7, "stdev_ms": 0.1},
            {"hop": 2, "address": "10.10.0.1", "avg_ms": 8.3},
            {"hop": 3, "address": None, "loss_pct": 100.0, "sent": 10},
            {"hop": 4, "address": "129.250.2.1", "loss_pct": 10.0, "worst_ms": 13.0},
            {"hop": 5, "address": "93.184.216.34", "avg_ms": 11.5, "stdev_ms": 0.2},
        ],
    },
    "mtr_report_wide.txt": {
        "hops": [
            {"hop": 1, "address": None, "host": "_gateway", "sent": 5},
            {"hop": 2, "address": "100.64.0.1", "host": None, "avg_ms": 4.2},
            {"hop": 3, "host": "ae-1.r01.nycmny01.us.bb.gin.ntt.net", "best_ms": 12.1},
            {"hop": 4, "address": None, "host": None, "loss_pct": 100.0},
            {"hop": 5, "host": "one.one.one.one", "worst_ms": 5.3},
        ],
    },
    "mtr_report_both.txt": {
        "hops": [
            {"hop": 1, "address": "192.168.1.1", "host": "_gateway"},
            {"hop": 2, "address": "100.64.0.1", "loss_pct": 33.3},
            {"hop": 3, "address": "1.1.1.1", "host": "one.one.one.one", "avg_ms": 4.9},
        ],
    },
    "mtr_report_local.txt": {"source": "vm", "hops": [{"hop": 1, "address": "127.0.0.1", "loss_pct": 0.0, "sent": 2}]},
    # Nothing answered (ICMP echo ignored in a network namespace): the table has no rows.
    "mtr_report_noreply.txt": {"kind": "mtr", "source": "vm", "hops": [], "error": None},
    # mtr_report.txt with 20% loss at the final hop.
    "mtr_report_final_loss.txt": {"hops": [{"hop": 1}, {"hop": 2}, {"hop": 3}, {"hop": 4},
                                           {"hop": 5, "address": "93.184.216.34", "loss_pct": 20.0}]},
    "mtr_report_as.txt": {"hops": [{"hop": 1, "address": "192.168.1.1"}, {"hop": 2, "address": "1.1.1.1", "last_ms": 5.1}]},
    # --- dig / nslookup ---
    "dig_full.txt": {
        "kind": "dig", "status": "NOERROR", "query_time_ms": 12.0, "server": "127.0.0.53", "error": None,
        "answers": [{"name": "example.com.", "ttl": 3105, "class": "IN", "type": "A", "data": "93.184.216.34"}],
    },
    "dig_full_cname.txt": {
        "status": "NOERROR", "query_time_ms": 24.0, "server": "8.8.8.8",
        "answers": [
            {"name": "www.github.com.", "ttl": 3600, "type": "CNAME", "data": "github.com."},
            {"name": "github.com.", "ttl": 60, "type": "A", "data": "140.82.112.3"},
        ],
    },
    "dig_full_mx_txt.txt": {
        "answers": [
            {"type": "MX", "data": "10 smtp.google.com."},
            {"type": "TXT", "data": '"v=spf1 include:_spf.google.com ~all"'},
        ],
    },
    "dig_nxdomain.txt": {"status": "NXDOMAIN", "answers": [], "query_time_ms": 28.0},
    "dig_short_stats.txt": {
        "status": "NOERROR", "query_time_ms": 3.0, "server": "1.1.1.1",
        "answers": [{"ttl": 3105, "data": "93.184.216.34"}, {"data": "93.184.216.35"}],
    },
    # Recorded against tests/field_servers.py's DNS responder on 127.0.0.1.
    "dig_two_a.txt": {
        "status": "NOERROR", "server": "127.0.0.1", "query_time_ms": 0.0,
        "answers": [{"name": "two.toolbox.test.", "ttl": 300, "type": "A", "data": "127.0.0.1"},
                    {"data": "127.0.0.2"}],
    },
    "dig_servfail.txt": {"status": "SERVFAIL", "answers": [], "server": "127.0.0.1", "error": None},
    "dig_refused.txt": {"status": "REFUSED", "answers": [], "error": None},
    "dig_no_server_refused.txt": {"status": None, "answers": [], "error": "no servers could be reached"},
    "dig_timeout.txt": {"status": None, "answers": [], "error": "no servers could be reached"},
    "nslookup_windows_en.txt": {
        "kind": "dig", "status": "NOERROR", "server": "8.8.8.8", "query_time_ms": None,
        "answers": [
            {"name": "example.com", "ttl": None, "type": "AAAA", "data": "2606:2800:220:1:248:1893:25c8:1946"},
            {"name": "example.com", "type": "A", "data": "93.184.216.34"},
        ],
    },
    "nslookup_windows_zh.txt": {
        "status": "NOERROR", "server": "114.114.114.114",
        "answers": [
            {"type": "A", "data": "14.215.177.39"}, {"type": "A", "data": "14.215.177.38"},
            {"name": "www.baidu.com", "type": "CNAME", "data": "www.a.shifen.com"},
        ],
    },
    "nslookup_windows_nxdomain.txt": {"status": "NXDOMAIN", "answers": [], "server": "192.168.1.1"},
    "nslookup_linux.txt": {
        "status": "NOERROR", "server": "127.0.0.53",
        "answers": [{"type": "CNAME", "data": "github.com."}, {"name": "github.com", "data": "140.82.112.3"}],
    },
    # --- curl ---
    "curl_https.txt": {
        "kind": "curl", "dns_ms": 1.234, "connect_ms": 12.871, "tls_ms": 45.532, "ttfb_ms": 98.311,
        "total_ms": 99.02, "http_status": 200, "remote_ip": "93.184.216.34", "size_bytes": 1256, "error": None,
    },
    "curl_http_redirect.txt": {"tls_ms": None, "http_status": 301, "size_bytes": 0},
    "curl_resolve_error.txt": {
        "http_status": 0, "remote_ip": None, "total_ms": 2.113,
        "error": "Could not resolve host: nosuch.example", "error_code": 6,
    },
    "curl_timeout.txt": {"total_ms": 3001.544, "error": "Connection timed out after 3001 milliseconds", "error_code": 28},
    # The write-out with exit=%{exitcode};error=%{errormsg}, as the field agent keeps it
    # (standard output only), recorded against servers on 127.0.0.1 (tests/field_servers.py).
    "curl_writeout_200.txt": {
        "http_status": 200, "remote_ip": "127.0.0.1", "size_bytes": 3, "total_ms": 1.621,
        "exit_code": 0, "error": None, "error_code": None,
    },
    "curl_writeout_404.txt": {"http_status": 404, "ttfb_ms": 1.544, "exit_code": 0, "error": None},
    "curl_writeout_refused.txt": {
        "http_status": 0, "remote_ip": None, "connect_ms": 0.0, "exit_code": 7, "error_code": 7,
        "error": "Failed to connect to 127.0.0.1 port 46049 after 0 ms: Couldn't connect to server",
    },
    "curl_writeout_timeout.txt": {
        "http_status": 0, "total_ms": 1000.199, "exit_code": 28, "error_code": 28,
        "error": "Connection timed out after 1000 milliseconds",
    },
    "curl_writeout_unknown.txt": {
        "http_status": 0, "exit_code": 6, "error_code": 6, "error": "Could not resolve host: nosuch.example",
    },
    # --- tcp ---
    "tcp_nc_openbsd_open.txt": {"kind": "tcp", "host": "127.0.0.1", "port": 22, "open": True, "error": None},
    "tcp_nc_openbsd_open_name.txt": {"host": "example.com", "address": "93.184.216.34", "port": 443, "open": True},
    "tcp_nc_openbsd_refused.txt": {"host": "127.0.0.1", "port": 1, "open": False, "error": "connection refused"},
    "tcp_nc_openbsd_timeout.txt": {"host": "10.255.255.1", "port": 80, "open": False, "error": "timed out"},
    "tcp_nc_openbsd_unknown.txt": {"host": "nosuch.example", "port": 80, "open": False, "error": "unknown host"},
    "tcp_nc_macos_open.txt": {"host": "127.0.0.1", "port": 22, "open": True},
    "tcp_nc_traditional_open.txt": {"host": "1.2.3.4", "port": 80, "open": True},
    "tcp_nc_traditional_refused.txt": {"host": "localhost", "address": "127.0.0.1", "error": "connection refused"},
    # toolBox's Perl check (standard output only), recorded against 127.0.0.1 ports; the
    # unknown host in a network namespace without network, perl_base with Perl's base
    # modules only (no Time::HiRes, so no connect time).
    "tcp_perl_open.txt": {
        "kind": "tcp", "host": "127.0.0.1", "address": "127.0.0.1", "port": 53765, "open": True,
        "error": None, "connect_ms": 0.996,
    },
    "tcp_perl_open_perl_base.txt": {"port": 57711, "open": True, "error": None, "connect_ms": None},
    "tcp_perl_refused.txt": {"host": "127.0.0.1", "address": "127.0.0.1", "port": 49699, "open": False,
                             "error": "connection refused", "connect_ms": None},
    "tcp_perl_timeout.txt": {"port": 54643, "open": False, "error": "timed out"},
    "tcp_perl_unknown.txt": {"host": "nosuch.example", "port": 80, "open": False, "error": "unknown host"},
    "tcp_tnc_open.txt": {"host": "example.com", "address": "93.184.216.34", "port": 443, "open": True, "error": None},
    "tcp_tnc_closed_zh.txt": {"host": "example.com", "port": 81, "open": False, "error": "connection failed"},
    "tcp_tnc_unknown.txt": {"host": "nosuch.example", "address": None, "open": False, "error": "unknown host"},
}

DIRECT = {
    "ping": parse_ping, "traceroute": parse_traceroute, "tracert": parse_traceroute,
    "mtr": parse_mtr, "dig": parse_dig, "nslookup": parse_dig, "curl": parse_curl, "tcp": parse_tcp,
}


def _read(name):
    """Return a sample's text."""
    return (SAMPLES / name).read_text(encoding="utf-8")


def _collapse(raw):
    """What the legacy agent sends: every whitespace run turned into one space."""
    return " ".join(raw.split())


def assert_subset(actual, expected, path="result"):
    """Check that every key/item in ``expected`` matches ``actual``."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{path}: missing {key!r}"
            assert_subset(actual[key], value, f"{path}.{key}")
    elif isinstance(expected, list) and expected and isinstance(expected[0], dict):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: {actual!r}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_subset(a, e, f"{path}[{i}]")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def test_every_sample_has_expectations():
    assert sorted(p.name for p in SAMPLES.glob("*.txt")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample(name):
    tool = name.split("_")[0]
    raw = _read(name)
    result = parse_result(tool, raw)
    assert result is not None, name
    assert_subset(result, EXPECTED[name])
    assert result == DIRECT[tool](raw)
    assert json.loads(json.dumps(result)) == result


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_collapsed_form_gives_same_result(name):
    tool = name.split("_")[0]
    raw = _read(name)
    expected = parse_result(tool, raw)
    assert parse_result(tool, _collapse(raw)) == expected
    assert parse_result(tool, " " + _collapse(raw) + " ") == expected
    assert parse_result(tool, raw.replace("\n", "\r\n")) == expected


GARBAGE = [
    "",
    "   \n\t ",
    "hello world",
    "1 2 3 4 5",
    "1 foo bar baz",
    "Error: permission denied",
    "exec: \"ping\": executable file not found in $PATH",
    "\x00\x01\x02 binary junk ;; ]]] [[[ ((( ",
    "Usage: dig [@global-server] [domain] [q-type] [q-class] {q-opt}",
]


@pytest.mark.parametrize("tool", sorted(DIRECT))
@pytest.mark.parametrize("raw", GARBAGE)
def test_garbage_gives_none(tool, raw):
    assert parse_result(tool, raw) is None
    assert DIRECT[tool](raw) is None


@pytest.mark.parametrize("raw", [None, 42, b"PING x", ["ping"]])
def test_non_text_gives_none(raw):
    assert parse_result("ping", raw) is None
    assert parse_ping(raw) is None


def test_unknown_tool_gives_none():
    assert parse_result("whois", _read("ping_linux.txt")) is None
    assert parse_result("", _read("ping_linux.txt")) is None
    assert parse_result(None, _read("ping_linux.txt")) is None


def test_tool_name_is_normalised():
    raw = _read("tracert_windows_en.txt")
    assert parse_result("TRACERT.EXE", raw)["kind"] == "traceroute"
    assert parse_result("C:\\Windows\\System32\\tracert.exe -d", raw)["kind"] == "traceroute"
    assert parse_result("/usr/bin/ping -c 4", _read("ping_linux.txt"))["kind"] == "ping"


def test_trace_tools_accept_each_others_output():
    assert parse_result("traceroute", _read("mtr_report.txt"))["kind"] == "mtr"
    assert parse_result("mtr", _read("traceroute_linux.txt"))["kind"] == "traceroute"


def test_other_tools_output_is_not_misread():
    for tool, sample in [("dig", "ping_linux.txt"), ("curl", "dig_full.txt"), ("tcp", "curl_https.txt"),
                         ("ping", "mtr_report.txt"), ("mtr", "dig_full.txt"), ("traceroute", "curl_https.txt")]:
        assert parse_result(tool, _read(sample)) is None, (tool, sample)


def test_curl_write_out_format():
    assert CURL_WRITE_OUT == (
        "toolbox-curl:dns=%{time_namelookup};connect=%{time_connect};tls=%{time_appconnect};"
        "ttfb=%{time_starttransfer};total=%{time_total};http=%{http_code};ip=%{remote_ip};"
        "size=%{size_download};exit=%{exitcode};error=%{errormsg}\\n"
    )
    assert not any(ch.isspace() for ch in CURL_WRITE_OUT)  # the legacy agent splits on spaces


def test_curl_before_7_75_prints_nothing_for_exitcode_and_errormsg():
    # curl < 7.75 does not know %{exitcode} and %{errormsg}: it writes them as nothing.
    line = ("toolbox-curl:dns=0.000012;connect=0.000000;tls=0.000000;ttfb=0.000000;"
            "total=0.000170;http=000;ip=;size=0;exit=;error=\n")
    result = parse_curl(line)
    assert (result["http_status"], result["exit_code"], result["error"], result["error_code"]) == (
        0, None, None, None)
    assert result["total_ms"] == 0.17


def test_curl_error_on_stderr_wins_over_errormsg():
    # The reference agent keeps stderr too: both say the same, stderr's form is kept.
    raw = ("curl: (7) Failed to connect to 127.0.0.1 port 1 after 0 ms: Connection refused\n"
           "toolbox-curl:dns=0.000012;connect=0.000000;tls=0.000000;ttfb=0.000000;"
           "total=0.000170;http=000;ip=;size=0;exit=7;error=Failed to connect to 127.0.0.1 "
           "port 1 after 0 ms: Connection refused\n")
    for text in (raw, _collapse(raw)):
        result = parse_curl(text)
        assert result["error"] == "Failed to connect to 127.0.0.1 port 1 after 0 ms: Connection refused"
        assert (result["error_code"], result["exit_code"]) == (7, 7)


def test_curl_errormsg_may_hold_semicolons():
    line = ("toolbox-curl:dns=0.1;connect=0.2;tls=0.3;ttfb=0;total=0.3;http=000;ip=1.2.3.4;size=0;"
            "exit=35;error=OpenSSL SSL_connect: SSL_ERROR_SYSCALL; errno 104")
    assert parse_curl(line)["error"] == "OpenSSL SSL_connect: SSL_ERROR_SYSCALL; errno 104"


def test_curl_error_without_timing_line():
    result = parse_curl("curl: (7) Failed to connect to 127.0.0.1 port 1 after 0 ms: Couldn't connect to server")
    assert result["error_code"] == 7
    assert result["error"].startswith("Failed to connect")
    assert result["total_ms"] is None and result["http_status"] is None


def test_ping_without_summary_uses_replies():
    raw = "64 bytes from 1.1.1.1: icmp_seq=1 ttl=57 time=3.0 ms\n64 bytes from 1.1.1.1: icmp_seq=2 ttl=57 time=5.0 ms\n"
    result = parse_ping(raw)
    assert (result["transmitted"], result["received"], result["loss_pct"]) == (2, 2, 0.0)
    assert (result["rtt_min_ms"], result["rtt_avg_ms"], result["rtt_max_ms"]) == (3.0, 4.0, 5.0)


def test_ping_other_error():
    result = parse_ping("ping: connect: Network is unreachable\n")
    assert result["error"] == "connect: Network is unreachable"
    assert result["loss_pct"] is None


def test_nslookup_timeout():
    raw = "DNS request timed out.\n    timeout was 2 seconds.\nServer:  UnKnown\nAddress:  10.9.9.9\n\n" \
          "DNS request timed out.\n    timeout was 2 seconds.\n*** Request to UnKnown timed-out\n"
    for text in (raw, _collapse(raw)):
        result = parse_nslookup(text)
        assert result["status"] is None and result["answers"] == []
        assert result["error"] == "DNS request timed out" and result["server"] == "10.9.9.9"


def test_ncat_output():
    ok = parse_tcp("Ncat: Version 7.92 ( https://nmap.org/ncat )\nNcat: Connected to 93.184.216.34:80.\n"
                   "Ncat: 0 bytes sent, 0 bytes received in 0.02 seconds.\n")
    assert (ok["host"], ok["port"], ok["open"]) == ("93.184.216.34", 80, True)
    refused = parse_tcp("Ncat: Version 7.92 ( https://nmap.org/ncat )\nNcat: Connection refused.\n")
    assert (refused["open"], refused["error"]) == (False, "connection refused")


# --- The task's target, for output without a header ---


def test_headerless_traceroute_uses_an_ip_target():
    raw = _read("traceroute_linux_headerless.txt")
    for text in (raw, _collapse(raw)):
        result = parse_result("traceroute", text, target="1.1.1.1")
        assert (result["target"], result["address"], result["reached"]) == ("1.1.1.1", "1.1.1.1", True)
        assert [h["hop"] for h in result["hops"]] == [1, 2, 3, 4, 5, 6]
        not_there = parse_result("traceroute", text, target="9.9.9.9")
        assert not_there["reached"] is False
        # Any spelling of the same address counts.
        assert parse_result("traceroute", text, target="::ffff:1.1.1.1")["reached"] is False
        assert parse_traceroute(text, target="[1.1.1.1]")["reached"] is True


def test_headerless_traceroute_with_a_hostname_target():
    raw = _read("traceroute_linux_headerless.txt")
    # -n output names no hop: whether one.one.one.one was reached cannot be told.
    result = parse_result("traceroute", raw, target="one.one.one.one")
    assert (result["target"], result["address"], result["reached"]) == ("one.one.one.one", None, None)
    named = " 1  _gateway (192.168.1.1)  0.5 ms  0.4 ms  0.4 ms\n 2  One.One.One.One (1.1.1.1)  4.8 ms\n"
    assert parse_result("traceroute", named, target="one.one.one.one.")["reached"] is True
    assert parse_result("traceroute", named, target="example.com")["reached"] is None


def test_a_header_wins_over_the_target():
    raw = _read("traceroute_linux_n.txt")
    assert parse_result("traceroute", raw, target="9.9.9.9") == parse_result("traceroute", raw)


def test_target_is_ignored_by_the_other_parsers():
    for name in ("ping_linux.txt", "dig_full.txt", "curl_https.txt", "tcp_perl_open.txt", "mtr_report.txt"):
        tool = name.split("_")[0]
        assert parse_result(tool, _read(name), target="192.0.2.1") == parse_result(tool, _read(name))


def test_perl_check_keeps_the_last_line():
    two = _read("tcp_perl_refused.txt") + _read("tcp_perl_open.txt")
    assert parse_tcp(two)["open"] is True


def test_trace_tools_that_could_send_no_probe_say_why():
    # Linux traceroute and mtr with no route at all (an empty network namespace)
    trace = parse_traceroute("traceroute to 127.0.0.1 (127.0.0.1), 2 hops max, 60 byte packets\n"
                             "connect: Network is unreachable\n")
    assert (trace["hops"], trace["reached"], trace["error"]) == ([], False, "Network is unreachable")
    mtr = parse_mtr("mtr: udp socket connect failed: Network is unreachable")
    assert (mtr["hops"], mtr["error"]) == ([], "udp socket connect failed: Network is unreachable")
    # a trace with hops keeps error None, whatever words follow
    answered = parse_traceroute("traceroute to 127.0.0.1 (127.0.0.1), 2 hops max, 60 byte packets "
                                "1 127.0.0.1 0.050 ms 0.010 ms 0.009 ms")
    assert answered["error"] is None and len(answered["hops"]) == 1
    assert parse_mtr("something else entirely") is None
