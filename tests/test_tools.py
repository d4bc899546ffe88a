"""Tests for toolbox.tools.catalogue and toolbox.tools.targets: validation is a security boundary.

Covers the tool catalogue, exact per-platform command lines (and that each splits on
whitespace into exactly the intended argv), the time limits, hostile parameter values,
and the private-address policy of check_target_allowed (with an injected resolver).
tests/test_field_commands.py runs the Linux commands for real.
"""

import math
import socket

import pytest

from toolbox.tools import parsers
from toolbox.tools import catalogue as tools
from toolbox.tools.parsers import TCP_CHECK_PERL
from toolbox.tools.catalogue import (
    CURL_WRITE_OUT,
    TOOLS,
    ToolError,
    build_argv,
    build_command,
    check_target_allowed,
    contacted_hosts,
    describe_tools,
    target_of,
    time_limit,
    validate_params,
)

FMT = (
    "toolbox-curl:dns=%{time_namelookup};connect=%{time_connect};tls=%{time_appconnect};"
    "ttfb=%{time_starttransfer};total=%{time_total};http=%{http_code};ip=%{remote_ip};"
    "size=%{size_download};exit=%{exitcode};error=%{errormsg}\\n"
)


def reject(tool, params, field="target"):
    """Assert validate_params refuses ``params`` and blames ``field``; return the error."""
    with pytest.raises(ToolError) as info:
        validate_params(tool, params)
    if field is not None:
        assert info.value.field == field
    assert info.value.message == str(info.value)
    if field:
        assert info.value.message.startswith(f"{field}: ")
    return info.value


# --- Catalogue ---


def test_curl_write_out_is_the_parser_contract():
    assert CURL_WRITE_OUT == FMT
    assert CURL_WRITE_OUT is parsers.CURL_WRITE_OUT  # one copy, owned by the parser


def test_tcp_check_is_one_token():
    assert TCP_CHECK_PERL and TCP_CHECK_PERL == "".join(TCP_CHECK_PERL.split())
    assert TCP_CHECK_PERL.isprintable()


def test_tool_list():
    assert list(TOOLS) == ["ping", "traceroute", "mtr", "dig", "curl", "tcp"]


def test_describe_tools_shape():
    described = {t["name"]: t for t in describe_tools()}
    assert set(described) == set(TOOLS)
    for tool in described.values():
        assert set(tool) == {"name", "title", "description", "platforms", "params"}
        for param in tool["params"]:
            assert set(param) == {"name", "type", "required", "default", "min", "max",
                                  "choices", "description"}
            assert param["type"] in ("host", "url", "int", "number", "choice")
    assert described["mtr"]["platforms"] == ["linux"]
    assert described["ping"]["platforms"] == ["linux", "windows"]
    count = described["ping"]["params"][1]
    assert count == {"name": "count", "type": "int", "required": False, "default": 4,
                     "min": 1, "max": 20, "choices": None,
                     "description": "Number of echo requests"}
    interval = described["ping"]["params"][3]
    assert (interval["name"], interval["type"], interval["default"]) == ("interval", "number", None)
    assert (interval["min"], interval["max"], interval["required"]) == (0.2, 10, False)
    record = described["dig"]["params"][1]
    assert record["choices"] == ["A", "AAAA", "CNAME", "MX", "NS", "TXT", "SOA", "PTR",
                                 "CAA", "SRV"]
    assert record["default"] == "A"
    port = described["tcp"]["params"][1]
    assert port["required"] is True and (port["min"], port["max"]) == (1, 65535)


# --- Commands, exactly ---

PERL = f"perl -MIO::Socket::IP -e {TCP_CHECK_PERL} --"

COMMANDS = [
    ("ping", {"target": "example.com"}, "linux", "ping -n -c 4 -W 2 example.com"),
    ("ping", {"target": "example.com"}, "windows", "ping -n 4 -w 2000 example.com"),
    ("ping", {"target": "1.1.1.1", "count": 20, "timeout": 10}, "linux",
     "ping -n -c 20 -W 10 1.1.1.1"),
    ("ping", {"target": "1.1.1.1", "count": "3", "timeout": "5"}, "windows",
     "ping -n 3 -w 5000 1.1.1.1"),
    ("ping", {"target": "127.0.0.1", "count": 20, "interval": 0.2}, "linux",
     "ping -n -c 20 -W 2 -i 0.2 127.0.0.1"),
    ("ping", {"target": "127.0.0.1", "interval": "2.5"}, "linux", "ping -n -c 4 -W 2 -i 2.5 127.0.0.1"),
    ("ping", {"target": "127.0.0.1", "interval": 10}, "linux", "ping -n -c 4 -W 2 -i 10 127.0.0.1"),
    ("ping", {"target": "127.0.0.1", "interval": 0.5}, "windows", "ping -n 4 -w 2000 127.0.0.1"),
    ("traceroute", {"target": "example.com"}, "linux",
     "traceroute -n -m 30 -w 2 -q 3 example.com"),
    ("traceroute", {"target": "example.com"}, "windows", "tracert -d -h 30 -w 2000 example.com"),
    ("traceroute", {"target": "[2001:DB8::1]", "max_hops": 64}, "linux",
     "traceroute -n -m 64 -w 2 -q 3 2001:db8::1"),
    ("mtr", {"target": "example.com"}, "linux", "mtr -r -n -c 10 example.com"),
    ("mtr", {"target": "8.8.8.8", "count": 50}, "linux", "mtr -r -n -c 50 8.8.8.8"),
    ("dig", {"target": "example.com"}, "linux", "dig +time=3 +tries=2 example.com A"),
    ("dig", {"target": "example.com"}, "windows",
     "nslookup -type=A -timeout=3 -retry=1 example.com."),
    ("dig", {"target": "example.com", "record_type": "mx", "server": "1.1.1.1"}, "linux",
     "dig +time=3 +tries=2 @1.1.1.1 example.com MX"),
    ("dig", {"target": "example.com", "record_type": "MX", "server": "1.1.1.1"}, "windows",
     "nslookup -type=MX -timeout=3 -retry=1 example.com. 1.1.1.1"),
    ("dig", {"target": "example.com.", "record_type": "TXT"}, "windows",
     "nslookup -type=TXT -timeout=3 -retry=1 example.com."),
    ("dig", {"target": "8.8.8.8", "record_type": "PTR"}, "linux",
     "dig +time=3 +tries=2 -x 8.8.8.8"),
    ("dig", {"target": "2001:4860:4860::8888", "record_type": "PTR", "server": "[2606:4700::1111]"},
     "linux", "dig +time=3 +tries=2 @2606:4700::1111 -x 2001:4860:4860::8888"),
    ("dig", {"target": "8.8.8.8", "record_type": "PTR"}, "windows",
     "nslookup -type=PTR -timeout=3 -retry=1 8.8.8.8"),
    ("dig", {"target": "_dmarc.example.com", "record_type": "TXT"}, "linux",
     "dig +time=3 +tries=2 _dmarc.example.com TXT"),
    ("dig", {"target": "_sip._tcp.example.com", "record_type": "SRV"}, "windows",
     "nslookup -type=SRV -timeout=3 -retry=1 _sip._tcp.example.com."),
    ("curl", {"url": "https://example.com/"}, "linux",
     f"curl -sS -o /dev/null --max-time 10 -w {FMT} https://example.com/"),
    ("curl", {"url": "http://example.com:8080/a?b=1&c=%20#x", "timeout": 60}, "windows",
     f"curl.exe -sS -o NUL --max-time 60 -w {FMT} http://example.com:8080/a?b=1&c=%20#x"),
    ("curl", {"url": "HTTP://[2001:db8::1]:443/"}, "linux",
     f"curl -sS -o /dev/null --max-time 10 -w {FMT} http://[2001:db8::1]:443/"),
    ("tcp", {"target": "example.com", "port": 443}, "linux", f"{PERL} example.com 443 3"),
    ("tcp", {"target": "[2001:DB8::1]", "port": "22", "timeout": 10}, "linux",
     f"{PERL} 2001:db8::1 22 10"),
    ("tcp", {"target": "example.com", "port": "22", "timeout": 10}, "windows",
     "powershell -NoProfile -Command Test-NetConnection -ComputerName example.com -Port 22"),
]


@pytest.mark.parametrize("tool,params,platform,expected", COMMANDS)
def test_build_command_exact(tool, params, platform, expected):
    command = build_command(tool, params, platform)
    assert command == expected
    argv = build_argv(tool, params, platform)
    assert command.split() == argv
    assert all(arg and not any(c.isspace() for c in arg) for arg in argv)


@pytest.mark.parametrize("tool,params,platform,expected", COMMANDS)
def test_user_values_never_become_options(tool, params, platform, expected):
    norm = validate_params(tool, params)
    user_values = {str(v) for v in norm.values() if v is not None}
    for arg in build_argv(tool, params, platform):
        if arg.startswith("-"):
            assert arg not in user_values


def test_tcp_values_are_arguments_not_code():
    argv = build_argv("tcp", {"target": "example.com", "port": 443, "timeout": 5}, "linux")
    assert argv[:4] == ["perl", "-MIO::Socket::IP", "-e", TCP_CHECK_PERL]
    assert argv[4:] == ["--", "example.com", "443", "5"]  # '--' ends perl's options
    assert "example.com" not in TCP_CHECK_PERL


def test_curl_url_is_last_and_output_before_it():
    argv = build_argv("curl", {"url": "https://example.com/x"}, "linux")
    assert argv[-1] == "https://example.com/x"
    assert argv.index("-o") < len(argv) - 1
    assert argv[argv.index("-w") + 1] == CURL_WRITE_OUT


def test_mtr_windows_and_unknown_platform_rejected():
    with pytest.raises(ToolError, match="not available on windows"):
        build_command("mtr", {"target": "example.com"}, "windows")
    for platform in ("darwin", "", None, "Linux"):
        with pytest.raises(ToolError, match="platform"):
            build_command("ping", {"target": "example.com"}, platform)


def test_build_command_revalidates_params():
    with pytest.raises(ToolError):
        build_command("ping", {"target": "-oProxyCommand=x"}, "linux")
    with pytest.raises(ToolError):
        build_command("ping", {"target": "a.com", "count": "4 -f"}, "linux")


# --- Time limits ---

LIMITS = [
    # ping, Linux: (count-1) + max(timeout, 1, 2*(count-1)), + 30 s for a hostname
    ("ping", {"target": "1.1.1.1"}, "linux", 3 + 6),
    ("ping", {"target": "1.1.1.1", "count": 1, "timeout": 5}, "linux", 0 + 5),
    ("ping", {"target": "1.1.1.1", "count": 2, "timeout": 10}, "linux", 1 + 10),
    ("ping", {"target": "example.com"}, "linux", 30 + 3 + 6),
    # with an interval I: (count-1)*I + max(timeout, I, 2*(count-1)*I), rounded up
    ("ping", {"target": "1.1.1.1", "count": 20, "interval": 0.2}, "linux", math.ceil(19 * 0.2 + 2 * 19 * 0.2)),
    ("ping", {"target": "1.1.1.1", "count": 2, "interval": 0.2, "timeout": 5}, "linux", 1 + 5),
    ("ping", {"target": "1.1.1.1", "count": 1, "interval": 10}, "linux", 10),
    ("ping", {"target": "1.1.1.1"}, "windows", 4 * 3),
    ("ping", {"target": "example.com", "count": 20, "timeout": 10}, "windows", 12 + 20 * 11),
    # traceroute: max_hops * 3 probes * timeout
    ("traceroute", {"target": "1.1.1.1"}, "linux", 30 * 3 * 2),
    ("traceroute", {"target": "example.com", "max_hops": 1, "timeout": 1}, "linux", 30 + 3),
    ("traceroute", {"target": "example.com"}, "windows", 12 + 180),
    # mtr: 1 s start + count + 5 s grace
    ("mtr", {"target": "8.8.8.8"}, "linux", 1 + 10 + 5),
    ("mtr", {"target": "example.com", "count": 50}, "linux", 30 + 1 + 50 + 5),
    # dig: 3 s * 2 tries * (servers + 1); nslookup: 2 queries * (3 + 6) s
    ("dig", {"target": "example.com"}, "linux", 3 * 2 * (3 + 1)),
    ("dig", {"target": "example.com", "server": "1.1.1.1"}, "linux", 3 * 2 * (1 + 1)),
    ("dig", {"target": "8.8.8.8", "record_type": "PTR"}, "windows", 2 * (3 + 6)),
    # curl: --max-time
    ("curl", {"url": "https://example.com/"}, "linux", 10),
    ("curl", {"url": "https://example.com/", "timeout": 60}, "windows", 60),
    # tcp: the check's alarm, + lookup; Windows: 21 s connect + 4 s ping check
    ("tcp", {"target": "127.0.0.1", "port": 22}, "linux", 3),
    ("tcp", {"target": "example.com", "port": 22, "timeout": 10}, "linux", 30 + 10),
    ("tcp", {"target": "::1", "port": 22}, "windows", 21 + 4),
    ("tcp", {"target": "example.com", "port": 22}, "windows", 12 + 21 + 4),
]


@pytest.mark.parametrize("tool,params,platform,expected", LIMITS)
def test_time_limit(tool, params, platform, expected):
    limit = time_limit(tool, params, platform)
    assert limit == expected and isinstance(limit, int)


def test_time_limit_covers_every_tool_and_platform():
    for name, tool in TOOLS.items():
        assert set(tool.limits) == set(tool.builders), name
        base = {"url": "https://example.com/"} if name == "curl" else {"target": "example.com"}
        if name == "tcp":
            base["port"] = 80
        for platform in tool.platforms:
            assert time_limit(name, base, platform) > 0


def test_time_limit_refuses_what_build_command_refuses():
    with pytest.raises(ToolError, match="not available on windows"):
        time_limit("mtr", {"target": "example.com"}, "windows")
    with pytest.raises(ToolError, match="platform"):
        time_limit("ping", {"target": "example.com"}, "darwin")
    with pytest.raises(ToolError, match="unknown tool"):
        time_limit("nmap", {"target": "example.com"}, "linux")
    with pytest.raises(ToolError) as info:
        time_limit("ping", {"target": "example.com", "count": 21}, "linux")
    assert info.value.field == "count"


def test_time_limit_grows_with_every_parameter_that_lengthens_the_run():
    def limit(tool, platform="linux", **params):
        return time_limit(tool, params, platform)

    assert limit("ping", target="1.1.1.1", count=5) > limit("ping", target="1.1.1.1", count=4)
    assert limit("ping", target="1.1.1.1", count=1, timeout=3) > limit(
        "ping", target="1.1.1.1", count=1, timeout=2)
    assert limit("traceroute", target="1.1.1.1", max_hops=31) > limit(
        "traceroute", target="1.1.1.1")
    assert limit("traceroute", "windows", target="1.1.1.1", timeout=3) > limit(
        "traceroute", "windows", target="1.1.1.1")
    assert limit("mtr", target="1.1.1.1", count=11) > limit("mtr", target="1.1.1.1")
    assert limit("curl", url="http://a.com/", timeout=11) > limit("curl", url="http://a.com/")
    assert limit("tcp", target="1.1.1.1", port=1, timeout=4) > limit(
        "tcp", target="1.1.1.1", port=1)


# --- Parameters in general ---


def test_defaults_filled_and_normalized():
    assert validate_params("ping", {"target": "Example.COM."}) == {
        "target": "example.com.", "count": 4, "timeout": 2, "interval": None}
    assert validate_params("dig", {"target": "example.com", "server": ""}) == {
        "target": "example.com", "record_type": "A", "server": None}
    assert validate_params("tcp", {"target": "xn--bcher-kva.example", "port": "443"})["port"] == 443
    norm = validate_params("ping", {"target": "::FFFF:1.2.3.4"})
    assert validate_params("ping", norm) == norm  # idempotent


def test_unknown_tool_and_bad_params_object():
    for name in ("nmap", "", None, "PING", "ping; id"):
        with pytest.raises(ToolError, match="unknown tool") as info:
            validate_params(name, {"target": "example.com"})
        assert info.value.field is None
    with pytest.raises(ToolError, match="params"):
        validate_params("ping", ["target", "example.com"])


def test_unknown_param_named():
    err = reject("ping", {"target": "example.com", "flood": True}, field="flood")
    assert "unknown parameter" in err.message
    err = reject("ping", {"target": "example.com", "-f": 1}, field=None)
    assert err.field == "-f" and "unknown parameter" in err.message
    reject("curl", {"url": "https://example.com", "target": "x"}, field="target")


def test_required_params():
    reject("ping", {})
    reject("ping", {"target": ""})
    reject("ping", {"target": None})
    reject("tcp", {"target": "example.com"}, field="port")
    reject("curl", {}, field="url")


@pytest.mark.parametrize("value", [
    True, False, 4.0, 4.5, -1, 0, 21, 10**30, "", " 4", "4 ", "+4", "-4", "0x4", "4e0", "4.0",
    "４", "٤", "4\n", "4;id", "99999999999999999999", [4], {"n": 4}, b"4",
])
def test_bad_counts(value):
    if value == "":
        assert validate_params("ping", {"target": "a.com", "count": value})["count"] == 4
        return
    reject("ping", {"target": "a.com", "count": value}, field="count")


@pytest.mark.parametrize("tool,name,low,high", [
    ("ping", "count", 1, 20), ("ping", "timeout", 1, 10), ("traceroute", "max_hops", 1, 64),
    ("mtr", "count", 1, 50), ("curl", "timeout", 1, 60), ("tcp", "port", 1, 65535),
    ("tcp", "timeout", 1, 10),
])
def test_int_bounds(tool, name, low, high):
    base = {"url": "https://example.com/"} if tool == "curl" else {"target": "example.com"}
    if tool == "tcp" and name != "port":
        base["port"] = 80
    assert validate_params(tool, {**base, name: low})[name] == low
    assert validate_params(tool, {**base, name: str(high)})[name] == high
    reject(tool, {**base, name: low - 1}, field=name)
    reject(tool, {**base, name: high + 1}, field=name)


@pytest.mark.parametrize("value,expected", [
    (0.2, 0.2), ("0.2", 0.2), (1, 1), ("1", 1), (1.0, 1), ("1.000", 1), (2.5, 2.5), ("0.25", 0.25), ("9.999", 9.999),
    (10, 10), ("10", 10), ("", None), (None, None),
])
def test_ping_interval_in_seconds(value, expected):
    found = validate_params("ping", {"target": "a.com", "interval": value})["interval"]
    assert found == expected and type(found) is type(expected)


@pytest.mark.parametrize("value", [
    True, False, 0, 0.1, 0.19, "0.19", 10.001, 11, "11", -1, "-0.5", "+1", ".5", "1.", "1e0", "0x1",
    "0.1234", 0.2345, "1,5", " 1", "1 ", "1\n", "nan", float("nan"), float("inf"), "inf", "1;id",
    "１", [1], {"s": 1}, b"1",
])
def test_bad_ping_intervals(value):
    err = reject("ping", {"target": "a.com", "interval": value}, field="interval")
    assert "interval" in err.message


def test_record_type_choice():
    norm = validate_params("dig", {"target": "a.com", "record_type": "aaaa"})
    assert norm["record_type"] == "AAAA"
    for bad in ("ANY", "AXFR", "A;id", "-x", 1, True, "ＡＡＡＡ", "A A"):
        reject("dig", {"target": "a.com", "record_type": bad}, field="record_type")


# --- Hosts ---

GOOD_HOSTS = {
    "example.com": "example.com",
    "EXAMPLE.com.": "example.com.",
    "a-b.c-d.example": "a-b.c-d.example",
    "localhost": "localhost",
    "xn--80ak6aa92e.com": "xn--80ak6aa92e.com",
    "1.2.3.4": "1.2.3.4",
    "255.255.255.255": "255.255.255.255",
    "0.0.0.0": "0.0.0.0",
    "::1": "::1",
    "[2001:DB8:0:0::1]": "2001:db8::1",
    "::ffff:10.0.0.1": "::ffff:10.0.0.1",  # IPv4-mapped: dotted on every Python (RFC 5952, 5)
    "::FFFF:0A00:0001": "::ffff:10.0.0.1",
    "3com.net": "3com.net",
    ("a" * 63 + ".") * 3 + "a" * 61: ("a" * 63 + ".") * 3 + "a" * 61,
}


@pytest.mark.parametrize("value,expected", list(GOOD_HOSTS.items()))
def test_good_hosts(value, expected):
    assert validate_params("ping", {"target": value})["target"] == expected


BAD_HOSTS = [
    # option injection
    "-oProxyCommand=x", "--help", "-c", "-", "-1.2.3.4",
    # shell metacharacters, quotes and friends
    "a.com;id", "a.com|id", "a.com&&id", "$(id)", "`id`", "a.com>out", "a.com<in",
    "'a.com'", '"a.com"', "a.com#", "*.com", "a.com?", "~root", "a.com!", "{a,b}.com",
    "a.com\\", "a,b.com", "a.com=1", "a+b.com", "a.com)",
    # whitespace and control characters
    "a.com\nid", "a.com\rid", "a.com\tid", "a.com id", " a.com", "a.com\x00", "a.com\x7f",
    "a.com\u2028", "a.com\xa0",
    # URL-ish and zone ids
    "user@a.com", "a.com/x", "http://a.com", "a.com:80", "fe80::1%eth0", "fe80::1%25eth0",
    "a.com%00",
    # unicode look-alikes
    "g\u043e\u043egle.com", "\uff11\uff12\uff17.\uff10.\uff10.\uff11", "exa\u0430mple.com",
    "b\u00fccher.de", "a\u200b.com", "\u0661.\u0662.\u0663.\u0664",
    # numeric forms inet_aton would accept
    "010.1.1.1", "127.1", "127.0.1", "2130706433", "0x7f.0.0.1", "0x7f000001", "0177.0.0.1",
    "1.2.3.256", "1.2.3.4.", "1.2.3.4.5", "01.2.3.4", "1..2.3", "1.2.3", "example.123",
    # bad DNS syntax
    "", ".", "..", ".a.com", "a..com", "a-.com", "a.-b.com", "a_b.com", "_a.com",
    "a" * 64 + ".com", ("a" * 63 + ".") * 4 + "com", "a" * 300, "a" * 10000,
    # bad IPv6
    "[::1", "::1]", "[a.com]", "[1.2.3.4]", "[::1]:80", ":::1", "1::2::3", "[::1]]",
    "12345::1", "::g",
    # wrong types
    1234, 1.5, True, None, ["a.com"], {"h": "a.com"}, b"a.com",
]


@pytest.mark.parametrize("value", BAD_HOSTS)
def test_bad_hosts(value):
    reject("ping", {"target": value})
    reject("tcp", {"target": value, "port": 80})


def test_host_error_messages():
    err = reject("ping", {"target": "a.com;id"})
    assert "must be a hostname, IPv4 or IPv6 address" in err.message
    assert "must not start with '-'" in reject("ping", {"target": "-x"}).message
    assert "ASCII" in reject("ping", {"target": "g\u043e\u043egle.com"}).message
    assert "too long" in reject("ping", {"target": "a" * 300}).message
    assert "IPv4" in reject("ping", {"target": "127.1"}).message


def test_dig_target_rules():
    reject("dig", {"target": "8.8.8.8"})
    reject("dig", {"target": "8.8.8.8", "record_type": "A"})
    reject("dig", {"target": "::1", "record_type": "AAAA"})
    assert validate_params("dig", {"target": "4.4.8.8.in-addr.arpa", "record_type": "PTR"})
    assert build_command("dig", {"target": "4.4.8.8.in-addr.arpa", "record_type": "PTR"},
                         "linux") == "dig +time=3 +tries=2 4.4.8.8.in-addr.arpa PTR"
    for bad in ("-x", "_", "a._b", "__a.com", "_-a.com", "a.com_", "_a.com;id"):
        reject("dig", {"target": bad, "record_type": "TXT"})


@pytest.mark.parametrize("server", ["dns.google", "-1.1.1.1", "1.1.1.1#53", "1.1.1.1:53",
                                    "@1.1.1.1", "fe80::1%eth0", "127.1", 53, "1.1.1.1 -p 5"])
def test_dig_server_must_be_ip(server):
    reject("dig", {"target": "example.com", "server": server}, field="server")


# --- URLs ---


@pytest.mark.parametrize("url", [
    "https://example.com", "http://example.com/", "https://EXAMPLE.com:443/path/to?x=1&y=2",
    "https://example.com/a%20b", "https://1.1.1.1/", "http://[::1]:8080/",
    "https://example.com/~user/@me?v=1,2*+&w=x:y", "https://xn--80ak6aa92e.com/#frag",
    "https://example.com/" + "a" * 2000,
])
def test_good_urls(url):
    norm = validate_params("curl", {"url": url})["url"]
    assert norm.startswith(("http://", "https://"))
    argv = build_argv("curl", {"url": url}, "linux")
    assert argv[-1] == norm and build_command("curl", {"url": url}, "linux").split() == argv


BAD_URLS = [
    "file:///etc/passwd", "gopher://example.com/", "javascript:alert(1)", "ftp://example.com/",
    "dict://example.com:11211/", "ldap://example.com", "data:text/plain,hi", "//example.com/",
    "example.com", "-K/etc/passwd", "--config=x", "http:/example.com", "http:example.com",
    "https://", "http:///etc/passwd", "http://:80/", "http://user:pass@example.com/",
    "http://user@example.com/", "http://example.com@evil.com/", "http://a.com\\@evil.com/",
    "http://example.com/a b", "http://example.com/\tx", "http://example.com/\nx",
    "http://example.com/\x00", " http://example.com/", "http://example.com/ ",
    "http://-oProxy.com/", "http://g\u043e\u043egle.com/", "http://example.com/\u00e9",
    "http://\uff11\uff12\uff17.0.0.1/", "http://127.1/", "http://2130706433/",
    "http://0x7f.0.0.1/", "http://[fe80::1%25eth0]/", "http://[::1/", "http://[a.com]/",
    "http://example.com:0/", "http://example.com:65536/", "http://example.com:x/",
    "http://example.com:-1/", "http://example.com:/", "http://a.com;id/", "http://a.com/$(id)",
    "http://a.com/`id`", "http://a.com/<x>", 'http://a.com/"', "http://a.com/{1,2}",
    "http://a.com/[1-1000]", "http://a.com/%", "http://a.com/%zz", "http://a.com/%{http_code}",
    "http://a.com/|id", "http://a.com/x;id", "http://a.com/'x'", "http://a.com/!x",
    "http://" + "a" * 64 + ".com/", "https://example.com/" + "a" * 3000,
    "", 42, True,
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_urls(url):
    reject("curl", {"url": url}, field="url")


def test_url_error_messages():
    assert "credentials" in reject("curl", {"url": "http://u:p@a.com/"}, field="url").message
    assert "http" in reject("curl", {"url": "file:///etc/passwd"}, field="url").message
    assert "too long" in reject("curl", {"url": "http://a.com/" + "a" * 3000},
                                field="url").message


# --- target_of / contacted_hosts ---


def test_target_of():
    assert target_of("ping", {"target": "Example.com"}) == "example.com"
    assert target_of("curl", {"url": "https://Example.com:8443/x?y"}) == "example.com"
    assert target_of("curl", {"url": "http://[2001:db8::1]:80/"}) == "2001:db8::1"
    assert target_of("dig", {"target": "8.8.8.8", "record_type": "PTR"}) == "8.8.8.8"
    assert target_of("tcp", {"target": "1.2.3.4", "port": 22}) == "1.2.3.4"
    with pytest.raises(ToolError):
        target_of("curl", {"url": "file:///etc/passwd"})


def test_contacted_hosts():
    assert contacted_hosts("dig", {"target": "a.com", "server": "9.9.9.9"}) == ["a.com", "9.9.9.9"]
    assert contacted_hosts("ping", {"target": "a.com"}) == ["a.com"]


# --- Private-address policy ---


def resolver_for(*addresses, error=None):
    """Return an async resolver returning ``addresses`` (or raising ``error``)."""
    calls = []

    async def resolve(host):
        calls.append(host)
        if error:
            raise error
        return list(addresses)

    resolve.calls = calls
    return resolve


@pytest.mark.gen_test
@pytest.mark.parametrize("target", [
    "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
    "100.64.0.1", "100.127.255.254", "0.0.0.0", "224.0.0.1", "239.1.2.3", "240.0.0.1",
    "255.255.255.255", "192.0.2.1", "198.18.0.1", "::1", "::", "fc00::1", "fd12:3456::1",
    "fe80::1", "ff02::1", "ff0e::1", "fec0::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
    "2002:a00:1::", "64:ff9b::a00:1", "2001:db8::1", "[::1]", "localhost", "LOCALHOST.",
    "foo.localhost",
])
async def test_private_targets_denied(target):
    resolve = resolver_for("93.184.216.34")
    with pytest.raises(ToolError) as info:
        await check_target_allowed(target, True, resolver=resolve)
    assert info.value.field == "target"
    assert info.value.message.startswith("target: ")
    assert resolve.calls == []  # IP literals and localhost never need resolving
    await check_target_allowed(target, False, resolver=resolve)


@pytest.mark.gen_test
@pytest.mark.parametrize("target", ["1.1.1.1", "8.8.8.8", "2606:4700:4700::1111",
                                    "[2001:4860:4860::8888]", "100.128.0.1"])
async def test_public_literals_allowed(target):
    await check_target_allowed(target, True, resolver=resolver_for(error=AssertionError()))


@pytest.mark.gen_test
async def test_hostname_resolving_to_private_is_denied():
    resolve = resolver_for("93.184.216.34", "10.0.0.5")
    with pytest.raises(ToolError, match=r"resolves to a private address \(10\.0\.0\.5\)"):
        await check_target_allowed("intranet.example.com", True, resolver=resolve)
    assert resolve.calls == ["intranet.example.com"]
    for private in ("127.0.0.1", "fe80::1%eth0", "fd00::1", "100.64.1.1", "::ffff:192.168.0.1"):
        with pytest.raises(ToolError):
            await check_target_allowed("x.example.com", True, resolver=resolver_for(private))


@pytest.mark.gen_test
async def test_hostname_resolving_to_public_is_allowed():
    resolve = resolver_for("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946")
    await check_target_allowed("Example.com.", True, resolver=resolve)
    assert resolve.calls == ["example.com"]


@pytest.mark.gen_test
@pytest.mark.parametrize("resolve", [
    resolver_for(), resolver_for(error=socket.gaierror(socket.EAI_NONAME, "not known")),
    resolver_for(error=OSError("boom")), resolver_for(error=UnicodeError("bad")),
    resolver_for("not-an-ip"),
])
async def test_unresolvable_hostname(resolve):
    with pytest.raises(ToolError) as info:
        await check_target_allowed("nx.invalid", True, resolver=resolve)
    assert info.value.field == "target"
    # Without deny_private, the name is not even resolved.
    calls = len(resolve.calls)
    await check_target_allowed("nx.invalid", False, resolver=resolve)
    assert len(resolve.calls) == calls


@pytest.mark.gen_test
async def test_unresolvable_message():
    with pytest.raises(ToolError, match="target: cannot resolve nx.invalid"):
        await check_target_allowed("nx.invalid", True, resolver=resolver_for())


@pytest.mark.gen_test
async def test_resolver_timeout(monkeypatch):
    import asyncio

    async def slow(host):
        await asyncio.sleep(10)
        return ["1.1.1.1"]

    monkeypatch.setattr("toolbox.tools.targets.RESOLVE_TIMEOUT", 0.01)
    with pytest.raises(ToolError, match="cannot resolve"):
        await check_target_allowed("slow.example.com", True, resolver=slow)


@pytest.mark.gen_test
async def test_default_resolver_uses_getaddrinfo(monkeypatch):
    answers = {"internal.example.com": "10.9.8.7", "public.example.com": "93.184.216.34"}

    def fake_getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], 0))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(ToolError, match="private"):
        await check_target_allowed("internal.example.com", True)
    await check_target_allowed("public.example.com", True)
    with pytest.raises(ToolError, match="cannot resolve"):
        await check_target_allowed("nx.example.com", True)
    with pytest.raises(ToolError, match="loopback"):
        await check_target_allowed("localhost", True)


@pytest.mark.gen_test
async def test_check_target_rejects_bad_syntax():
    for bad in ("-x", "a.com;id", "g\u043e\u043egle.com", "fe80::1%eth0", "127.1"):
        with pytest.raises(ToolError):
            await check_target_allowed(bad, False, resolver=resolver_for("1.1.1.1"))


def test_public_api_exports():
    for name in ("ToolError", "TOOLS", "describe_tools", "validate_params", "build_command",
                 "check_target_allowed", "target_of", "CURL_WRITE_OUT", "time_limit"):
        assert hasattr(tools, name)
    assert issubclass(ToolError, ValueError)
