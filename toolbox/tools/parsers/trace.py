"""Parse route tracing output: Linux/BSD ``traceroute``, Windows ``tracert`` and ``mtr`` reports.

The input is collapsed to one line first, so hops are found by their numbers, not by
line breaks: a hop starts at a bare integer equal to the next expected hop number that
is not followed by ``ms`` (that would be an RTT such as tracert's ``3 ms``).

traceroute / tracert result::

    {"kind": "traceroute", "target", "address", "hops": [{"hop", "address", "host",
     "rtt_ms": [...], "loss"}], "reached", "error"}

``reached`` says whether the last hop is the destination.  It needs the destination's
address, which the header line gives ("traceroute to example.com (93.184.216.34)").
Some traceroutes print that header on standard error (BSD, macOS, busybox), so an agent
that keeps standard output only sends the hops alone; for such headerless output
``parse_traceroute(text, target=...)`` uses the task's target instead: an IP literal is
the address; for a hostname, a last hop shown under that name counts as reached, and
otherwise ``reached`` is None (the output cannot tell).  Without a target, headerless
output gives ``reached`` False, as before.

mtr result::

    {"kind": "mtr", "source", "hops": [{"hop", "address", "host", "loss_pct", "sent",
     "last_ms", "avg_ms", "best_ms", "worst_ms", "stdev_ms"}], "error"}

A report whose table has no rows (no hop answered at all) gives ``hops`` [].  ``error``
is "unknown host", or the system's reason when no probe could go out at all
(traceroute's "connect: Network is unreachable", mtr's "mtr: ..." lines), else None.
"""

import re
from typing import Any

from ._common import (
    Parsed,
    UNKNOWN_HOST,
    UNKNOWN_HOST_RE,
    is_hostish,
    is_ip,
    ms_value,
    safe_parser,
    same_ip,
)

# --- traceroute / tracert headers (the hop list starts right after them) ---
_HEADERS = (
    # traceroute to example.com (93.184.216.34), 30 hops max, 60 byte packets
    re.compile(
        r"traceroute6?\s+to\s+(\S+)\s+\(([^)\s]+)\)[^,]*,\s*\d+\s+hops\s+max"
        r"(?:,\s*\d+\s+byte\s+packets)?"
    ),
    # Tracing route to example.com [93.184.216.34] over a maximum of 30 hops:
    re.compile(r"Tracing\s+route\s+to\s+(\S+)(?:\s+\[([^\]\s]+)\])?\s+over\s+a\s+maximum\s+of\s+\d+\s+hops:?"),
    # 通过最多 30 个跃点跟踪 到 example.com [93.184.216.34] 的路由:
    re.compile(r"通过最多\s*\d+\s*个跃点跟踪\s*到\s*(\S+?)(?:\s*\[([^\]\s]+)\])?\s*的路由\s*[:：]?"),
)
# Phrases inside hop rows that are not hosts.
_NOISE = re.compile(
    r"Request\s+timed\s+out\.?|请求超时。?|Trace\s+complete\.?|跟踪完成。?"
    r"|reports:\s*Destination\s+\w+\s+unreachable\.?|报告[:：]\s*无法访问目标\S*"
    r"|General\s+failure\.?|Transmit\s+error[^.]*\.?",
    re.I,
)
_UNKNOWN_TARGET = re.compile(
    r"cmdline\s+arg\s+`([^'\s]+)'|resolve\s+target\s+system\s+name\s+(\S+?)\.?(?:\s|$)"
    r"|无法解析目标系统名称\s*([^\s。]+)"
)
# A system call that failed before any probe went out, as Linux traceroute prints it
# ("connect: Network is unreachable", "send: Operation not permitted").
_TRACE_ERROR = re.compile(r"(?:^|\s)(?:connect|send|sendto|socket|bind|setsockopt|recvmsg):\s+([A-Z][^:]*?)\s*$")
# mtr's own error lines: "mtr: udp socket connect failed: Network is unreachable".
_MTR_ERROR = re.compile(r"(?:^|\s)mtr:\s+(.+?)\s*(?=\smtr:|$)")
_MS_UNITS = ("ms", "毫秒", "msec")
_RTT_TOKEN = re.compile(r"<?\d+(?:[.,]\d+)?")

# --- mtr report ---
_MTR_HEADER = re.compile(r"Loss%\s+Snt\s+Last\s+Avg\s+Best\s+Wrst\s+StDev")
_MTR_SOURCE = re.compile(r"HOST:\s*(\S+)")
_NUM = r"(\d+(?:\.\d+)?)"
_MTR_HOP = re.compile(
    r"(?:^|\s)(\d{1,3})\.\s*(?:\|--)?\s*(?:AS\S+\s+)?(\S+)(?:\s+\(([^)\s]+)\))?\s+"
    + _NUM + r"%?\s+(\d+)\s+" + r"\s+".join([_NUM] * 5) + r"(?=\s|$)"
)


# ---------------------------------------------------------------- traceroute ---


def _empty_trace(target: str | None = None, address: str | None = None, error: str | None = None) -> Parsed:
    """Return a traceroute result with every key present."""
    return {
        "kind": "traceroute",
        "target": target,
        "address": address,
        "hops": [],
        "reached": False,
        "error": error,
    }


def _split_hops(tokens: list[str]) -> list[tuple[int, list[str]]]:
    """Group tokens into [(hop_number, tokens)], starting a hop at the expected number."""
    hops: list[tuple[int, list[str]]] = []
    expected = None
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        is_start = (
            tok.isdigit()
            and nxt not in _MS_UNITS
            and (int(tok) == expected if expected is not None else 0 < int(tok) < 256)
        )
        if is_start:
            hops.append((int(tok), []))
            expected = int(tok) + 1
        elif hops:
            hops[-1][1].append(tok)
    return hops


def _parse_hop(number: int, tokens: list[str]) -> dict[str, Any]:
    """Turn the tokens of one hop row into a hop dict."""
    rtts: list[float] = []
    stars = 0
    responders: list[Any] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok == "*":
            stars += 1
        elif _RTT_TOKEN.fullmatch(tok) and nxt in _MS_UNITS:
            value = ms_value(tok)
            if value is not None:
                rtts.append(value)
            i += 1
        elif tok[:1] in "([" and tok[-1:] in ")]":  # "(93.184.216.34)" / "[93.184.216.34]"
            inner = tok[1:-1]
            if is_ip(inner) and responders and responders[-1][1] is None:
                responders[-1][1] = inner
        elif tok.startswith("!"):  # annotations such as !H !N !X
            pass
        elif is_hostish(tok):
            responders.append([tok, None])
        i += 1

    host = address = None
    if responders:
        name, ip = responders[0]
        if ip is None and is_ip(name):
            address = name
        else:
            address, host = ip, name
        if host == address:
            host = None
    return {
        "hop": number,
        "address": address,
        "host": host,
        "rtt_ms": rtts,
        "loss": not rtts and responders == [] and stars > 0,
    }


def _same_name(a: str | None, b: str | None) -> bool:
    """True when two host names are equal, ignoring case and a trailing dot."""
    return bool(a and b) and a.rstrip(".").lower() == b.rstrip(".").lower()  # type: ignore[union-attr]  # both set


def _reached(hops: list[dict[str, Any]], address: str | None, target: str | None, headerless: bool) -> bool | None:
    """True/False when the output (or the given target) says, None when it cannot tell."""
    if not hops:
        return False
    last = hops[-1]
    if address:
        return bool(last["address"]) and same_ip(last["address"], address)
    if headerless and target:
        return True if _same_name(last["host"], target) else None
    return False


@safe_parser
def parse_traceroute(text: str, target: str | None = None) -> Parsed | None:
    """Parse traceroute/tracert output (multi-line or collapsed); None when not one.

    ``target`` is the host the task traced (optional): it stands in for the header
    when the output has none (see the module docstring).
    """
    given = target.strip("[]") if isinstance(target, str) and target.strip("[]") else None
    target = address = None
    body = None
    for regex in _HEADERS:
        m = regex.search(text)
        if m:
            target, address = m.group(1), m.group(2)
            body = text[m.end():]
            break
    if body is None:
        names_a_tool = re.search(r"traceroute|tracert|Cannot handle|跟踪|target system|目标系统", text, re.I)
        if UNKNOWN_HOST_RE.search(text) and names_a_tool:
            m = _UNKNOWN_TARGET.search(text)
            name = next((g for g in m.groups() if g), None) if m else None
            return _empty_trace(target=name, error=UNKNOWN_HOST)
        if not re.match(r"1\s", text):  # headerless (banner went to stderr)
            return None
        body = text
    headerless = target is None
    if headerless:
        target = given
    if address is None and target and is_ip(target):
        address = target

    hops = [_parse_hop(n, toks) for n, toks in _split_hops(_NOISE.sub(" ", body).split())]
    hops = [h for h in hops if h["rtt_ms"] or h["address"] or h["host"] or h["loss"]]
    if headerless and not any(h["rtt_ms"] for h in hops):
        return None  # headerless text must at least show one measured hop
    failed = _TRACE_ERROR.search(body) if not hops else None
    result = _empty_trace(target, address, failed.group(1) if failed else None)
    result["hops"] = hops
    result["reached"] = _reached(hops, address, target, headerless)
    return result


# ---------------------------------------------------------------------- mtr ---


@safe_parser
def parse_mtr(text: str) -> Parsed | None:
    """Parse an ``mtr --report`` table (multi-line or collapsed); None when not one."""
    header = _MTR_HEADER.search(text)
    if header:
        body = text[header.end():]
    elif "|--" in text:
        body = text
    else:
        if UNKNOWN_HOST_RE.search(text) and "mtr" in text:
            return {"kind": "mtr", "source": None, "hops": [], "error": UNKNOWN_HOST}
        failed = _MTR_ERROR.search(text)
        if failed:
            return {"kind": "mtr", "source": None, "hops": [], "error": failed.group(1)}
        return None

    hops = []
    for m in _MTR_HOP.finditer(body):
        name, ip = m.group(2), m.group(3)
        if name == "???":
            name = None
        address = ip if ip else (name if is_ip(name) else None)
        host = name if name and not is_ip(name) else None
        last, avg, best, worst, stdev = (float(g) for g in m.group(6, 7, 8, 9, 10))
        hops.append({
            "hop": int(m.group(1)),
            "address": address,
            "host": host,
            "loss_pct": float(m.group(4)),
            "sent": int(m.group(5)),
            "last_ms": last,
            "avg_ms": avg,
            "best_ms": best,
            "worst_ms": worst,
            "stdev_ms": stdev,
        })
    if not hops and not (header and _MTR_SOURCE.search(text)):
        return None  # a report with no hop rows at all: nothing answered (kept, empty)
    source = _MTR_SOURCE.search(text)
    return {"kind": "mtr", "source": source.group(1) if source else None, "hops": hops, "error": None}
