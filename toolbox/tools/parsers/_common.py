"""Helpers shared by the diagnostic-output parsers.

Every parser starts by collapsing its input with :func:`collapse`, so the normal
multi-line output and the legacy agent's one-line form (all whitespace folded into
single spaces, see docs/legacy-agent) go through exactly the same code path.
"""

import functools
import ipaddress
import re
from collections.abc import Callable
from typing import Any

# What a parser returns: a JSON-serialisable dict with a "kind" key.
Parsed = dict[str, Any]

# Reasons shared by several tools, so the console can show one vocabulary.
UNKNOWN_HOST = "unknown host"
REFUSED = "connection refused"
TIMED_OUT = "timed out"

# Name-resolution failures as printed by glibc, musl, macOS, busybox and Windows.
UNKNOWN_HOST_RE = re.compile(
    r"unknown host|Name or service not known|could not find host|找不到主机"
    r"|cannot resolve|Temporary failure in name resolution"
    r"|No address associated with hostname|bad address|Name does not resolve"
    r"|nodename nor servname|forward host lookup failed|Could not resolve host"
    r"|Could not resolve hostname|Unable to resolve target system name"
    r"|无法解析目标系统名称|Name resolution of \S+ failed|No such host is known",
    re.I,
)

# A hostname or a bare IP as a token (ASCII only, so CJK words never match).
_HOSTNAME_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*)(?:\.[A-Za-z0-9_-]+)*\.?")


def collapse(raw: str) -> str:
    """Fold every run of whitespace (newlines included) into one space."""
    return " ".join(raw.replace("\ufeff", "").split())


def is_ip(text: str | None) -> bool:
    """True when ``text`` is an IPv4 or IPv6 address (a ``%zone`` is allowed)."""
    if not text:
        return False
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def same_ip(a: Any, b: Any) -> bool:
    """True when two IP address strings name the same address (any spelling, brackets ok)."""
    try:
        return ipaddress.ip_address(a.strip("[]").split("%", 1)[0]) == ipaddress.ip_address(
            b.strip("[]").split("%", 1)[0])
    except (AttributeError, ValueError):
        return False


def is_hostish(token: str) -> bool:
    """True for a token that can name a host: an IP address or a DNS name."""
    return is_ip(token) or bool(_HOSTNAME_RE.fullmatch(token))


def to_float(text: str | None) -> float | None:
    """Parse a number that may use a decimal comma; None when empty or invalid."""
    if text is None:
        return None
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def ms_value(text: str) -> float | None:
    """Parse an RTT token in milliseconds; Windows' ``<1`` (0 ms) becomes 0.0."""
    text = text.strip()
    if text.startswith("<"):
        return 0.0
    return to_float(text)


def classify_error(message: str | None) -> str | None:
    """Map a connection error message to one of the shared reasons, else keep it."""
    if not message:
        return None
    message = message.strip().rstrip(".。")
    if UNKNOWN_HOST_RE.search(message):
        return UNKNOWN_HOST
    low = message.lower()
    if "refused" in low or "拒绝" in message:
        return REFUSED
    if "timed out" in low or "timeout" in low or "in progress" in low or "超时" in message:
        return TIMED_OUT
    return message[:300]


def safe_parser(func: Callable[..., Parsed | None]) -> Callable[..., Parsed | None]:
    """Wrap a parser: non-text or blank input gives None, and it never raises.

    Keyword options (such as ``target`` for traceroute) are passed through unchanged.
    """

    @functools.wraps(func)
    def wrapper(raw: Any, **options: Any) -> Parsed | None:
        if not isinstance(raw, str) or not raw.strip():
            return None
        try:
            return func(collapse(raw), **options)
        except Exception:  # last resort only: the parsers validate what they read
            return None

    return wrapper
