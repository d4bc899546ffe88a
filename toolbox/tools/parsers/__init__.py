"""Turn raw diagnostic output into numbers.

Plain functions, no I/O.  :func:`parse_result` is the entry point: it picks a parser
from the tool name and returns a JSON-serialisable dict with a ``"kind"`` key, or None
when the output can't be parsed (the caller then shows the raw text).  Every parser
accepts both the normal multi-line output and the legacy agent's form, where all
whitespace (newlines included) is collapsed into single spaces.  ``target`` (the task's
target host, optional) lets the traceroute parser tell ``reached`` when the output has
no header line (see ``trace.py``).  :mod:`toolbox.tools.outcomes` turns a parsed result into
an outcome (ok / partial / failed) and a one-line summary.

Kinds and their keys:

- ``ping``: target, address, transmitted, received, loss_pct, rtt_min_ms, rtt_avg_ms,
  rtt_max_ms, rtt_mdev_ms, replies, error
- ``traceroute``: target, address, hops [hop, address, host, rtt_ms, loss], reached
  (True / False / None = the output cannot tell), error
- ``mtr``: source, hops [hop, address, host, loss_pct, sent, last_ms, avg_ms, best_ms,
  worst_ms, stdev_ms], error
- ``dig``: status, answers [name, ttl, class, type, data], query_time_ms, server, error
- ``curl``: dns_ms, connect_ms, tls_ms, ttfb_ms, total_ms, http_status, remote_ip,
  size_bytes, error, error_code, exit_code (curl's ``%{exitcode}``: 0 = the transfer
  worked; None when the output does not carry it)
- ``tcp``: host, address, port, open, error, connect_ms (the Perl check's time to
  connected, name lookup included; None otherwise)
"""

from typing import Any

from ._common import Parsed
from .curl import CURL_WRITE_OUT, parse_curl
from .dig import parse_dig, parse_nslookup
from .ping import parse_ping
from .tcp import TCP_CHECK_PERL, parse_tcp
from .trace import parse_mtr, parse_traceroute

__all__ = [
    "CURL_WRITE_OUT",
    "PARSERS",
    "TCP_CHECK_PERL",
    "parse_curl",
    "parse_dig",
    "parse_mtr",
    "parse_nslookup",
    "parse_ping",
    "parse_result",
    "parse_tcp",
    "parse_traceroute",
]

# Tool name -> parsers tried in order (the first non-None result wins).
PARSERS = {
    "ping": (parse_ping,),
    "ping6": (parse_ping,),
    "traceroute": (parse_traceroute, parse_mtr),
    "traceroute6": (parse_traceroute, parse_mtr),
    "tracert": (parse_traceroute, parse_mtr),
    "trace": (parse_traceroute, parse_mtr),
    "mtr": (parse_mtr, parse_traceroute),
    "dig": (parse_dig,),
    "nslookup": (parse_dig,),
    "dns": (parse_dig,),
    "curl": (parse_curl,),
    "http": (parse_curl,),
    "https": (parse_curl,),
    "tcp": (parse_tcp,),
    "nc": (parse_tcp,),
    "ncat": (parse_tcp,),
    "netcat": (parse_tcp,),
    "tcping": (parse_tcp,),
    "port": (parse_tcp,),
    "test-netconnection": (parse_tcp,),
    "powershell": (parse_tcp,),
    "perl": (parse_tcp,),
}

# Parsers that use the task's target when the output leaves it out.
_TAKES_TARGET = frozenset({parse_traceroute})


def _tool_key(tool: object) -> str:
    """Normalise a tool name: ``"Tracert.exe"`` or ``"/usr/bin/mtr -r"`` -> its key."""
    words = str(tool or "").strip().lower().split()
    if not words:
        return ""
    name = words[0].replace("\\", "/").rsplit("/", 1)[-1]
    return name[:-4] if name.endswith(".exe") else name


def parse_result(tool: object, raw: Any, target: str | None = None) -> Parsed | None:
    """Parse ``raw`` output of ``tool``; a dict with a ``"kind"`` key, or None.

    ``tool`` is a tool name or a whole command line (its first word counts);
    ``target`` is the host the task aimed at, when known.
    """
    if not isinstance(raw, str) or not raw.strip():
        return None
    for parser in PARSERS.get(_tool_key(tool), ()):
        result = parser(raw, target=target) if parser in _TAKES_TARGET else parser(raw)
        if result is not None:
            return result
    return None
