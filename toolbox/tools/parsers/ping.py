"""Parse ``ping`` output: Linux iputils, BSD/macOS, busybox, Windows English and Chinese.

All regexes work on the collapsed one-line form (see ``_common.collapse``); nothing
relies on line breaks.  Result::

    {"kind": "ping", "target", "address", "transmitted", "received", "loss_pct",
     "rtt_min_ms", "rtt_avg_ms", "rtt_max_ms", "rtt_mdev_ms", "replies": [ms...],
     "error": None | "unknown host" | message}
"""

import re

from ._common import Parsed, UNKNOWN_HOST, UNKNOWN_HOST_RE, is_ip, ms_value, safe_parser, to_float

# --- Header: target and resolved address ---
# "PING example.com (93.184.216.34) 56(84) bytes", "PING ::1(::1) 56 data bytes",
# "PING google.com(host.1e100.net (2607:f8b0::200e)) 56 data bytes"
_UNIX_HEAD = re.compile(r"\bPING\s+([^\s(]+)\s*\((?:[^()\s]+\s+\()?([^()\s]+)\)")
_WIN_HEAD = re.compile(r"\bPinging\s+(\S+)\s+(?:\[([^\]\s]+)\]\s+)?with\b")
_ZH_HEAD = re.compile(r"正在\s*Ping\s+(\S+)\s+(?:\[([^\]\s]+)\]\s+)?具有")
_WIN_STATS_FOR = re.compile(r"Ping statistics for\s+(\S+?):(?:\s|$)")
_ZH_STATS_FOR = re.compile(r"(?<!\S)(\S+)\s+的\s*Ping\s*统计信息")

# --- Replies ---
# "time=11.6 ms", "time<1ms", "时间=3ms"; duplicates "(DUP!)" are not counted.
_REPLY = re.compile(r"(?:\btime|时间)\s*([=<])\s*(\d+(?:[.,]\d+)?)\s*ms(?!\s*\(DUP!\))", re.I)
_TIMEOUT = re.compile(r"Request timed out|Request timeout for icmp_seq|请求超时", re.I)
_UNREACHABLE = re.compile(r"Destination (?:host|net|port|protocol) unreachable|无法访问目标", re.I)

# --- Statistics ---
_UNIX_STATS = re.compile(
    r"(?<!\d)(\d+)\s+packets\s+transmitted,\s*(\d+)\s+(?:packets\s+)?received,"
    r"[^%]*?(\d+(?:\.\d+)?)%\s+packet\s+loss"
)
_UNIX_RTT = re.compile(
    r"(?:rtt|round-trip)\s+min/avg/max(?:/(?:mdev|stddev))?\s*=\s*"
    r"([\d.]+)/([\d.]+)/([\d.]+)(?:/([\d.]+))?\s*ms"
)
_WIN_STATS = re.compile(
    r"Sent\s*=\s*(\d+),\s*Received\s*=\s*(\d+),\s*Lost\s*=\s*\d+\s*\((\d+)%\s*loss\)", re.I
)
_WIN_RTT = re.compile(
    r"Minimum\s*=\s*(\d+)\s*ms,\s*Maximum\s*=\s*(\d+)\s*ms,\s*Average\s*=\s*(\d+)\s*ms", re.I
)
_ZH_STATS = re.compile(
    r"已发送\s*=\s*(\d+)\s*[，,]\s*已接收\s*=\s*(\d+)\s*[，,]\s*丢失\s*=\s*\d+\s*"
    r"[(（]\s*(\d+)%\s*丢失"
)
_ZH_RTT = re.compile(
    r"最短\s*=\s*(\d+)\s*ms\s*[，,]\s*最长\s*=\s*(\d+)\s*ms\s*[，,]\s*平均\s*=\s*(\d+)\s*ms"
)

# --- Errors: which name failed to resolve, and other fatal messages ---
_UNKNOWN_TARGET = [
    re.compile(r"\bping:\s+(?:cannot resolve\s+)?([^\s:]+):\s"),
    re.compile(r"unknown host\s+([^\s:]+)", re.I),
    re.compile(r"could not find host\s+(\S+?)\.?(?:\s|$)", re.I),
    re.compile(r"找不到主机\s*([^\s。]+)"),
    re.compile(r"bad address\s+'([^']+)'"),
]
_OTHER_ERROR = re.compile(
    r"\bping:\s+(.{1,200}?)(?=\s+ping:|$)|(General failure\.?|Transmit failed[^.]*\.?|一般故障。?)",
    re.I,
)


def _result(target: str | None = None, address: str | None = None, error: str | None = None) -> Parsed:
    """Return an empty ping result with every key present."""
    return {
        "kind": "ping",
        "target": target,
        "address": address,
        "transmitted": None,
        "received": None,
        "loss_pct": None,
        "rtt_min_ms": None,
        "rtt_avg_ms": None,
        "rtt_max_ms": None,
        "rtt_mdev_ms": None,
        "replies": [],
        "error": error,
    }


def _header(text: str) -> tuple[str | None, str | None]:
    """Return (target, address) from the banner or the statistics title."""
    for regex in (_UNIX_HEAD, _WIN_HEAD, _ZH_HEAD):
        m = regex.search(text)
        if m:
            target, address = m.group(1), m.group(2)
            if address is None and is_ip(target):
                address = target
            return target, address
    for regex in (_WIN_STATS_FOR, _ZH_STATS_FOR):
        m = regex.search(text)
        if m and is_ip(m.group(1)):
            return m.group(1), m.group(1)
    return None, None


def _stats(text: str) -> tuple[int, int, float, tuple[float | None, ...]] | None:
    """Return (transmitted, received, loss_pct, (min, avg, max, mdev)) or None."""
    for stats_re, rtt_re in ((_UNIX_STATS, _UNIX_RTT), (_WIN_STATS, _WIN_RTT), (_ZH_STATS, _ZH_RTT)):
        m = stats_re.search(text)
        if not m:
            continue
        rtt: tuple[float | None, ...] = (None, None, None, None)
        r = rtt_re.search(text)
        if r and rtt_re is _UNIX_RTT:
            rtt = tuple(to_float(g) for g in r.groups())
        elif r:  # Windows prints min, max, avg
            rtt = (to_float(r.group(1)), to_float(r.group(3)), to_float(r.group(2)), None)
        return int(m.group(1)), int(m.group(2)), float(m.group(3)), rtt
    return None


def _error_result(text: str, target: str | None, address: str | None) -> Parsed | None:
    """Build the result for output without statistics or replies, or None."""
    if UNKNOWN_HOST_RE.search(text):
        for regex in _UNKNOWN_TARGET:
            m = regex.search(text)
            if m:
                target = m.group(1).strip("'\"")
                break
        return _result(target, None, UNKNOWN_HOST)
    m = _OTHER_ERROR.search(text)
    if m:
        message = (m.group(1) or m.group(2)).strip()
        return _result(target, address, message)
    return None


def _summary(replies: list[float]) -> tuple[float, float, float]:
    """Return (min, avg, max) of a list of RTTs, rounded like ping does."""
    return min(replies), round(sum(replies) / len(replies), 3), max(replies)


@safe_parser
def parse_ping(text: str) -> Parsed | None:
    """Parse ping output (multi-line or collapsed); None when it is not ping output."""
    target, address = _header(text)
    replies = [0.0 if op == "<" else ms_value(val) for op, val in _REPLY.findall(text)]
    stats = _stats(text)

    if stats is None and not replies:
        return _error_result(text, target, address)

    result = _result(target, address)
    result["replies"] = replies
    if stats is not None:
        transmitted, received, loss, rtt = stats
    else:  # truncated output: count what was printed
        received = len(replies)
        transmitted = received + len(_TIMEOUT.findall(text))
        loss = round(100.0 * (transmitted - received) / transmitted, 1)
        rtt = (None, None, None, None)

    # Windows counts "Destination host unreachable" answers as received.
    if _UNREACHABLE.search(text) and received > len(replies):
        received = len(replies)
        loss = round(100.0 * (transmitted - received) / transmitted, 1) if transmitted else 100.0

    if received == 0:
        rtt = (None, None, None, None)
    elif rtt[0] is None and replies:
        rtt = _summary(replies) + (None,)  # type: ignore[arg-type]  # _REPLY matches numbers only

    result.update(
        transmitted=transmitted,
        received=received,
        loss_pct=loss,
        rtt_min_ms=rtt[0],
        rtt_avg_ms=rtt[1],
        rtt_max_ms=rtt[2],
        rtt_mdev_ms=rtt[3],
    )
    return result
