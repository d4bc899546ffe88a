"""Parse TCP connect checks: toolBox's Perl check, ``nc -z -v`` and ``Test-NetConnection``.

Linux agents run :data:`TCP_CHECK_PERL` (see ``toolbox.tools.catalogue``): a Perl program, with
the host, port and timeout as its arguments, that prints one line on standard output
and exits 0 whatever the answer::

    toolbox-tcp:host=127.0.0.1;port=22;open=1;ip=127.0.0.1;connect=0.000547;error=
    toolbox-tcp:host=127.0.0.1;port=1;open=0;ip=;connect=;error=Connection refused

``connect`` is the seconds from start to connected, name lookup included (like curl's
``time_connect``); it is empty when the agent's Perl lacks Time::HiRes (Debian's
``perl-base`` alone).  Older results came from OpenBSD netcat (Debian's default and
macOS), traditional netcat or nmap's ncat, which answer on standard error only; they
are still understood, as is ``Test-NetConnection -ComputerName HOST -Port PORT`` on the
collapsed one-line form.  Result::

    {"kind": "tcp", "host", "address", "port", "open", "error", "connect_ms"}

``error`` is None when the port is open, else "connection refused", "timed out",
"unknown host", "connection failed" (Test-NetConnection does not say why) or the text.
``connect_ms`` is None unless the Perl check measured it.
"""

import re
from typing import Any

from ._common import Parsed, UNKNOWN_HOST, UNKNOWN_HOST_RE, classify_error, is_ip, safe_parser, to_float

# --- toolBox's Perl check (argv: host port timeout) ---
# One argv token: no whitespace anywhere (the agents split commands on whitespace).  The
# values come in as @ARGV, never inside the code; the alarm bounds the whole check (an
# unanswered connect included) to the timeout; Time::HiRes is optional.
TCP_CHECK_PERL = (
    "($h,$p,$w)=@ARGV;"
    "$t=eval{require(Time::HiRes);Time::HiRes::time()};"
    "$SIG{ALRM}=sub{die(qq(timeout\\n))};alarm($w);"
    "$s=eval{IO::Socket::IP->new(PeerHost=>$h,PeerPort=>$p)||die(qq($@\\n))};alarm(0);"
    "chomp($e=$@);"
    "printf(qq(toolbox-tcp:host=%s;port=%s;open=%d;ip=%s;connect=%s;error=%s\\n),"
    "$h,$p,$s?1:0,$s?$s->peerhost:q(),"
    "$s&&$t?sprintf(q(%.6f),Time::HiRes::time()-$t):q(),$e)"
)
_PERL = re.compile(
    r"toolbox-tcp:host=([^;\s]*);port=(\d*);open=([01]);ip=([^;\s]*);connect=([\d.]*);"
    r"error=(.*?)\s*(?=toolbox-tcp:|$)"
)

# --- OpenBSD netcat ---
# "Connection to 127.0.0.1 22 port [tcp/ssh] succeeded!" (Debian)
# "Connection to localhost (127.0.0.1) 22 port [tcp/ssh] succeeded!" (newer Debian)
# "Connection to 127.0.0.1 port 22 [tcp/ssh] succeeded!" (macOS)
_BSD_OK = re.compile(
    r"Connection\s+to\s+(\S+)\s+(?:\(([^)\s]+)\)\s+)?(?:port\s+(\d+)|(\d+)\s+port)"
    r"\s+\[[^\]]*\]\s+succeeded!"
)
# "nc: connect to 127.0.0.1 port 1 (tcp) failed: Connection refused"
# "nc: connect to 10.0.0.9 port 80 (tcp) timed out: Operation now in progress"
_BSD_FAIL = re.compile(
    r"nc:\s+connectx?\s+to\s+(\S+)\s+(?:\(([^)\s]+)\)\s+)?port\s+(\d+)\s+\(\w+\)\s+"
    r"(failed|timed\s+out):\s*(.*?)(?=\s+nc:|\s+Connection\s+to\s|$)"
)
# 'nc: getaddrinfo for host "nosuch.example" port 80: Name or service not known'
_BSD_RESOLVE = re.compile(r"nc:\s+getaddrinfo(?:\s+for\s+host\s+\"([^\"]+)\"\s+port\s+(\d+))?:")

# --- traditional netcat ---
# "(UNKNOWN) [1.2.3.4] 80 (http) open", "localhost [127.0.0.1] 1 (tcpmux) : Connection refused"
_TRAD = re.compile(
    r"(?<!\S)(\S+)\s+\[([^\]\s]+)\]\s+(\d+)\s+\([^)]*\)\s+(?:(open)\b|:\s*(.*?)"
    r"(?=\s+\S+\s+\[[^\]\s]+\]\s+\d+\s+\(|$))"
)
_TRAD_RESOLVE = re.compile(r"(?<!\S)(\S+):\s+forward\s+host\s+lookup\s+failed")

# --- nmap ncat ---
_NCAT_OK = re.compile(r"Ncat:\s+Connected\s+to\s+\[?([^\]\s]+?)\]?:(\d+)\.")
_NCAT_FAIL = re.compile(
    r"Ncat:\s+(Connection\s+refused|TIMEOUT|Connection\s+timed\s+out"
    r"|Could\s+not\s+resolve\s+hostname\s+\"?([^\"\s]+?)\"?:[^.]*)"
)

# --- Test-NetConnection ---
_NOT_A_KEY = r"(?![A-Za-z]+(?:\s*\([^)]*\))?\s+:)"
_TNC_RESULT = re.compile(r"TcpTestSucceeded\s*:\s*(True|False)\b", re.I)
_TNC_HOST = re.compile(r"ComputerName\s*:\s*" + _NOT_A_KEY + r"(\S+)")
_TNC_ADDRESS = re.compile(r"RemoteAddress\s*:\s*" + _NOT_A_KEY + r"(\S+)")
_TNC_PORT = re.compile(r"RemotePort\s*:\s*(\d+)")
_TNC_RESOLVE = re.compile(r"Name\s+resolution\s+of\s+(\S+)\s+failed", re.I)


def _result(host: str | None = None, address: str | None = None, port: Any = None, is_open: bool = False,
            error: str | None = None, connect_ms: float | None = None) -> Parsed:
    """Return a tcp result with every key present."""
    if address is None and host and is_ip(host):
        address = host
    return {
        "kind": "tcp",
        "host": host,
        "address": address,
        "port": int(port) if port else None,
        "open": is_open,
        "error": None if is_open else error,
        "connect_ms": connect_ms,
    }


def _parse_perl_check(text: str) -> Parsed | None:
    """Parse the Perl check's line (the last one, should there be several), or None."""
    found = list(_PERL.finditer(text))
    if not found:
        return None
    host, port, is_open, ip, connect, error = found[-1].groups()
    seconds = to_float(connect)
    is_open = is_open == "1"
    return _result(
        host or None,
        ip or None,
        port,
        is_open,
        classify_error(error) or "connection failed",
        round(seconds * 1000.0, 3) if is_open and seconds is not None else None,
    )


def _parse_netcat(text: str) -> Parsed | None:
    """Parse any netcat flavour, or None."""
    m = _BSD_OK.search(text)
    if m:
        return _result(m.group(1), m.group(2), m.group(3) or m.group(4), True)
    m = _TRAD.search(text)
    if m:
        failures = [t for t in _TRAD.finditer(text)]
        opened = next((t for t in failures if t.group(4)), None)
        t = opened or failures[-1]
        host = t.group(2) if t.group(1) == "(UNKNOWN)" else t.group(1)
        return _result(host, t.group(2), t.group(3), bool(opened), classify_error(t.group(5)))
    m = _NCAT_OK.search(text)
    if m:
        return _result(m.group(1), None, m.group(2), True)
    fails = list(_BSD_FAIL.finditer(text))
    if fails:
        last = fails[-1]
        reason = last.group(5) or last.group(4)
        if last.group(4).startswith("timed"):
            reason = "timed out"
        return _result(last.group(1), last.group(2), last.group(3), False, classify_error(reason))
    m = _BSD_RESOLVE.search(text)
    if m:
        return _result(m.group(1), None, m.group(2), False, UNKNOWN_HOST)
    m = _TRAD_RESOLVE.search(text)
    if m:
        return _result(m.group(1), None, None, False, UNKNOWN_HOST)
    m = _NCAT_FAIL.search(text)
    if m:
        host = m.group(2)
        return _result(host, None, None, False, classify_error(m.group(1)))
    return None


def _parse_test_netconnection(text: str) -> Parsed | None:
    """Parse Test-NetConnection's property list, or None."""
    m = _TNC_RESULT.search(text)
    resolve = _TNC_RESOLVE.search(text)
    if not m and not resolve:
        return None
    host = _TNC_HOST.search(text)
    address = _TNC_ADDRESS.search(text)
    port = _TNC_PORT.search(text)
    is_open = bool(m) and m.group(1).lower() == "true"  # type: ignore[union-attr]  # m is a match here
    error = UNKNOWN_HOST if resolve else "connection failed"
    return _result(
        host.group(1) if host else (resolve.group(1) if resolve else None),
        address.group(1) if address and is_ip(address.group(1)) else None,
        port.group(1) if port else None,
        is_open,
        error,
    )


@safe_parser
def parse_tcp(text: str) -> Parsed | None:
    """Parse a TCP connect check (multi-line or collapsed); None when not recognised."""
    result = _parse_perl_check(text)
    if result is None:
        result = _parse_test_netconnection(text)
    if result is None:
        result = _parse_netcat(text)
    if result is None and UNKNOWN_HOST_RE.search(text) and re.search(r"\bnc:|Ncat:", text):
        result = _result(error=UNKNOWN_HOST)
    return result
