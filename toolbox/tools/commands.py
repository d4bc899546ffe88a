"""Per-platform command lines of the diagnostic tools, and how long each can run.

``toolbox.tools.catalogue`` validates the parameters and calls these: each ``*_linux`` /
``*_windows`` builder turns validated parameters into an argv list (fixed options plus
values that are single tokens), and each ``*_limit`` returns the most seconds that
command can run (``toolbox.tools.catalogue.time_limit`` rounds it up to whole seconds).

The commands are chosen for the deployed field agent (legacy-agent.md section 3): it
keeps standard output only, collapses all whitespace, and exits when a command exits
non-zero.  So each command answers on standard output in a form ``toolbox.tools.parsers``
reads in its one-line form, and exits 0 on every answer where the tool allows it.

The time limits are upper bounds derived from the parameters and the fixed options of
each command, with no grace added; a hostname target adds its lookup
(``NAME_LOOKUP_SECONDS``, 0 for an IP literal) where the tool does not bound it.  Formulas (L = lookup):

* ping, Linux: L + (count-1)*I + max(timeout, I, 2*(count-1)*I) -- one request every
  I = ``interval`` seconds (1 when not given), then iputils waits ``timeout`` if nothing
  came back, else twice the slowest RTT (at least I), which cannot exceed the time spent
  sending; Windows (no interval option: one a second): L + count * (timeout + 1).
* traceroute / tracert: L + max_hops * 3 probes * timeout.
* mtr: L + 1 s start-up + count * 1 s interval + 5 s grace after the last round.
* dig, Linux: 3 s * 2 tries * (servers + 1): the given server or up to 3 from
  resolv.conf, plus a TCP retry after a truncated answer; Windows nslookup:
  2 queries (the server's name, then the question) * (3 s + 6 s, doubled on retry).
* curl: timeout (``--max-time`` covers everything).
* tcp, Linux: L + timeout (the check's alarm); Windows Test-NetConnection, which
  has no timeout option: L + 21 s TCP connect + 4 s ping check.

Starting the process is not counted (tens of ms) but for mtr's 1 s: the caller's
grace covers it.  Windows bounds use Windows' documented defaults; they were not
measured here.
"""

from collections.abc import Callable
from typing import Any

from toolbox.tools.parsers import CURL_WRITE_OUT, TCP_CHECK_PERL
from toolbox.tools.targets import is_ip_literal

# A tool's validated parameters (``toolbox.tools.catalogue.validate_params``), by name.
Params = dict[str, Any]


# --- Command builders (each returns an argv list) ---
# Fixed settings the time limits below rely on.
DIG_TRY_SECONDS = 3  # dig +time and nslookup -timeout
DIG_TRIES = 2  # dig +tries (tries per server); nslookup -retry is DIG_TRIES - 1
TRACE_PROBES = 3  # probes per hop (traceroute -q; tracert always sends 3)


PING_MIN_INTERVAL = 0.2  # iputils refuses a shorter -i to a user who is not root
PING_MAX_INTERVAL = 10
PING_INTERVAL_SECONDS = 1  # iputils' default -i


def ping_linux(p: Params) -> list[str]:
    # -n: no reverse lookup of each reply's address (unbounded time, and not asked for).
    argv = ["ping", "-n", "-c", str(p["count"]), "-W", str(p["timeout"])]
    if p.get("interval") is not None:  # absent: iputils' own one second, as before
        argv += ["-i", f"{p['interval']:g}"]
    return argv + [p["target"]]


def ping_windows(p: Params) -> list[str]:
    return ["ping", "-n", str(p["count"]), "-w", str(p["timeout"] * 1000), p["target"]]


def traceroute_linux(p: Params) -> list[str]:
    return ["traceroute", "-n", "-m", str(p["max_hops"]), "-w", str(p["timeout"]),
            "-q", str(TRACE_PROBES), p["target"]]


def traceroute_windows(p: Params) -> list[str]:
    return ["tracert", "-d", "-h", str(p["max_hops"]), "-w", str(p["timeout"] * 1000),
            p["target"]]


def mtr_linux(p: Params) -> list[str]:
    return ["mtr", "-r", "-n", "-c", str(p["count"]), p["target"]]


def dig_linux(p: Params) -> list[str]:
    argv = ["dig", f"+time={DIG_TRY_SECONDS}", f"+tries={DIG_TRIES}"]
    if p["server"]:
        argv.append("@" + p["server"])
    if p["record_type"] == "PTR" and is_ip_literal(p["target"]):
        return argv + ["-x", p["target"]]
    return argv + [p["target"], p["record_type"]]


def dig_windows(p: Params) -> list[str]:
    # A fully qualified name (trailing dot) is asked as given, like dig does, instead of
    # being tried with each DNS suffix of the agent first; -timeout/-retry pin the waits.
    name = p["target"]
    if not is_ip_literal(name) and not name.endswith("."):
        name += "."
    argv = ["nslookup", "-type=" + p["record_type"], f"-timeout={DIG_TRY_SECONDS}",
            f"-retry={DIG_TRIES - 1}", name]
    if p["server"]:
        argv.append(p["server"])
    return argv


def curl_linux(p: Params) -> list[str]:
    return ["curl", "-sS", "-o", "/dev/null", "--max-time", str(p["timeout"]),
            "-w", CURL_WRITE_OUT, p["url"]]


def curl_windows(p: Params) -> list[str]:
    return ["curl.exe", "-sS", "-o", "NUL", "--max-time", str(p["timeout"]),
            "-w", CURL_WRITE_OUT, p["url"]]


def tcp_linux(p: Params) -> list[str]:
    # nc -z -v answers on standard error only (the field agent would send nothing) and
    # exits 1 on a closed port; this Perl check prints one line and exits 0 (parsers/tcp.py).
    return ["perl", "-MIO::Socket::IP", "-e", TCP_CHECK_PERL, "--",
            p["target"], str(p["port"]), str(p["timeout"])]


def tcp_windows(p: Params) -> list[str]:
    return ["powershell", "-NoProfile", "-Command", "Test-NetConnection",
            "-ComputerName", p["target"], "-Port", str(p["port"])]


# --- Time limits (each returns the most seconds the command can run) ---
#: A hostname's lookup, for tools that do not bound it themselves, at the platform's
#: default resolver settings: glibc asks each of up to 3 name servers with a 5 s timeout,
#: twice (resolv.conf ``timeout:5 attempts:2``); the Windows DNS client waits
#: 1 + 1 + 2 + 4 + 4 s.  A resolver configured for longer waits, or one that tries the
#: name in several search domains, can take longer.
NAME_LOOKUP_SECONDS = {"linux": 30, "windows": 12}
LINUX_NAME_SERVERS = 3  # the most resolv.conf name servers dig and glibc use
MTR_INTERVAL_SECONDS = 1  # mtr's default -i
MTR_GRACE_SECONDS = 5  # mtr's default --gracetime: the wait after the last round
MTR_START_SECONDS = 1  # starting its probe helper and writing the report (0.2 s measured)
#: Windows' TCP connect timeout at its defaults (SYN, then 2 retransmissions: 3 + 6 + 12 s).
WINDOWS_CONNECT_SECONDS = 21
#: Test-NetConnection pings the host when the port does not answer (one echo, 4 s wait).
WINDOWS_PING_CHECK_SECONDS = 4


def _lookup(host: str, platform: str) -> int:
    """Seconds a lookup of ``host`` can add: none for an IP literal."""
    return 0 if is_ip_literal(host) else NAME_LOOKUP_SECONDS[platform]


def ping_linux_limit(p: Params) -> float:
    # iputils sends one request every interval, then waits for the last replies:
    # ``timeout`` when nothing came back yet, else twice the slowest RTT seen (at least
    # the interval), and an RTT cannot exceed the time spent sending.
    interval = p.get("interval") or PING_INTERVAL_SECONDS
    sending = (p["count"] - 1) * interval
    return _lookup(p["target"], "linux") + sending + max(p["timeout"], interval, 2 * sending)


def ping_windows_limit(p: Params) -> float:
    # Each request waits up to ``timeout`` for its reply, then up to 1 s before the next.
    return _lookup(p["target"], "windows") + p["count"] * (p["timeout"] + 1)


def trace_limit(platform: str) -> Callable[[Params], float]:
    def limit(p: Params) -> float:
        # Every probe of every hop unanswered, counted one after the other.
        return _lookup(p["target"], platform) + p["max_hops"] * TRACE_PROBES * p["timeout"]
    return limit


def mtr_limit(p: Params) -> float:
    return (_lookup(p["target"], "linux") + MTR_START_SECONDS
            + p["count"] * MTR_INTERVAL_SECONDS + MTR_GRACE_SECONDS)


def dig_linux_limit(p: Params) -> float:
    # +time per try, +tries per server (the given one, or each of resolv.conf's), and
    # the same again over TCP to the server whose UDP answer was truncated.
    servers = 1 if p["server"] else LINUX_NAME_SERVERS
    return DIG_TRY_SECONDS * DIG_TRIES * (servers + 1)


def dig_windows_limit(p: Params) -> float:
    # nslookup doubles its wait on each retry, and asks twice: the server's own name
    # (PTR), then the question.
    per_query = sum(DIG_TRY_SECONDS * 2 ** i for i in range(DIG_TRIES))
    return 2 * per_query


def curl_limit(p: Params) -> float:
    return p["timeout"]  # --max-time covers the whole transfer, name lookup included


def tcp_linux_limit(p: Params) -> float:
    # The Perl check's alarm stops it at ``timeout``; a lookup cannot be interrupted.
    return _lookup(p["target"], "linux") + p["timeout"]


def tcp_windows_limit(p: Params) -> float:
    return (_lookup(p["target"], "windows") + WINDOWS_CONNECT_SECONDS
            + WINDOWS_PING_CHECK_SECONDS)
