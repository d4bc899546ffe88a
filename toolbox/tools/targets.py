"""Strict validation of diagnostic targets: hosts, URLs, and the private-address policy.

This is a security boundary. Values validated here are placed, unquoted, into command
lines that the agents split on whitespace and execute without a shell (legacy agent
protocol, section 3), so every accepted value is a single
token made only of harmless ASCII characters and never starts with ``-``.

Host syntax accepted:

* a DNS hostname: LDH labels of 1-63 characters, at most 253 characters in all,
  ASCII only (IDNA ``xn--`` labels are fine), optional trailing dot; the last label
  must not be all digits;
* an IPv4 literal in strict dotted-quad form (no ``010.1.1.1``, ``127.1``,
  ``0x7f.1`` or ``2130706433``: names made only of numeric labels are rejected,
  because ``inet_aton`` on the agent would read them as addresses);
* an IPv6 literal (optionally in brackets, which are stripped), without zone id.

Normalized values are lower-cased; IP literals are returned in canonical form.
"""

import asyncio
import ipaddress
import re
import socket
import string
from collections.abc import Awaitable, Callable
from typing import Any, cast

__all__ = [
    "ToolError",
    "validate_host",
    "validate_url",
    "is_ip_literal",
    "url_host",
    "check_target_allowed",
]

MAX_HOST_LEN = 253
MAX_URL_LEN = 2048
RESOLVE_TIMEOUT = 5.0

# Characters a host may contain at all; everything else is refused up front.
_HOST_CHARS = frozenset(string.ascii_letters + string.digits + ".-:[]_")
_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# Service labels such as ``_dmarc`` or ``_sip._tcp`` (DNS lookups only).
_SERVICE_LABEL_RE = re.compile(r"_[a-z0-9](?:[a-z0-9-]{0,60}[a-z0-9])?")
# A label inet_aton() would accept as a number: decimal, octal or hex.
_NUMERIC_LABEL_RE = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_RE = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")

# URL: scheme, authority (no userinfo), then an optional path/query/fragment made of
# RFC 3986 characters. Brackets and braces are excluded from the tail because curl
# treats them as glob patterns (one task must not fan out into many requests), and the
# shell-significant sub-delimiters ``$ ' ( ) ! ;`` must be percent-encoded, as defence
# in depth should a command ever meet a shell.
_URL_RE = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)(?P<rest>.*)", re.S
)
_URL_TAIL_CHARS = frozenset(string.ascii_letters + string.digits + "-._~:/?#@&*+,=%")
_PCT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PORT_RE = re.compile(r"[0-9]{1,5}")

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_HOST_MSG = "must be a hostname, IPv4 or IPv6 address"


class ToolError(ValueError):
    """A tool request is invalid; ``field`` names the parameter (or is None)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return self.message


def shown(value: Any, limit: int = 40) -> str:
    """Return a short, printable representation of untrusted input for messages."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    if text.isascii() and text.isprintable() and text.isidentifier():
        return text
    return repr(text)


# --- Hosts ---


def _check_charset(value: Any, field: str, max_len: int) -> None:
    """Reject non-strings and characters that are never valid in a host."""
    if not isinstance(value, str):
        raise ToolError(field, f"{field}: must be a string")
    if not value:
        raise ToolError(field, f"{field}: is required")
    if len(value) > max_len:
        raise ToolError(field, f"{field}: is too long (at most {max_len} characters)")
    if not value.isascii():
        raise ToolError(
            field, f"{field}: must contain only ASCII characters (use punycode xn-- for IDN)"
        )
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ToolError(field, f"{field}: must not contain whitespace or control characters")
    if value.startswith("-"):
        raise ToolError(field, f"{field}: must not start with '-'")


def _ipv6(text: str) -> ipaddress.IPv6Address | None:
    """Parse an IPv6 literal without zone id, or return None."""
    try:
        return ipaddress.IPv6Address(text)
    except ValueError:
        return None


def _ipv6_text(addr: ipaddress.IPv6Address) -> str:
    """An IPv6 address as toolBox writes it: compressed, and an IPv4-mapped one with its
    IPv4 part dotted (``::ffff:10.0.0.1``, as RFC 5952 section 5 recommends), the same on
    every Python (3.13's ``ipaddress`` writes it so; 3.12 and before wrote ``::ffff:a00:1``)."""
    mapped = addr.ipv4_mapped
    return f"::ffff:{mapped}" if mapped is not None else addr.compressed


def _hostname(value: str, service_labels: bool) -> str | None:
    """Return the lower-cased hostname if ``value`` is a valid DNS name, else None."""
    name = value.lower()
    bare = name[:-1] if name.endswith(".") else name
    if not bare or len(bare) > MAX_HOST_LEN:
        return None
    labels = bare.split(".")
    if labels[-1].isdigit():
        return None
    for index, label in enumerate(labels):
        if _LABEL_RE.fullmatch(label):
            continue
        # Service labels (``_sip._tcp``) only lead the name, never the TLD.
        if service_labels and index < len(labels) - 1 and _SERVICE_LABEL_RE.fullmatch(label):
            continue
        return None
    return name


def validate_host(value: Any, field: str = "target", *, ip_only: bool = False, service_labels: bool = False) -> str:
    """Validate and normalize a host; raise ToolError naming ``field`` on failure."""
    _check_charset(value, field, MAX_HOST_LEN + 2)
    bad = sorted(set(value) - _HOST_CHARS)
    if bad:
        raise ToolError(field, f"{field}: contains a forbidden character {bad[0]!r}; {_HOST_MSG}")
    if value.startswith("[") or value.endswith("]"):
        addr = _ipv6(value[1:-1]) if value.startswith("[") and value.endswith("]") else None
        if addr is None:
            raise ToolError(field, f"{field}: brackets are only allowed around an IPv6 address")
        return _ipv6_text(addr)
    if "[" in value or "]" in value:
        raise ToolError(field, f"{field}: {_HOST_MSG}")
    if ":" in value:
        addr = _ipv6(value)
        if addr is None:
            raise ToolError(field, f"{field}: {_HOST_MSG}")
        return _ipv6_text(addr)
    labels = value.lower().rstrip(".").split(".")
    if all(_NUMERIC_LABEL_RE.fullmatch(label) for label in labels):
        if not _IPV4_RE.fullmatch(value):
            raise ToolError(
                field,
                f"{field}: an IPv4 address must be four decimal octets 0-255 without leading zeros",
            )
        return str(ipaddress.IPv4Address(value))
    if ip_only:
        raise ToolError(field, f"{field}: must be an IPv4 or IPv6 address")
    name = _hostname(value, service_labels)
    if name is None:
        raise ToolError(field, f"{field}: {_HOST_MSG}")
    return name


def is_ip_literal(host: Any) -> bool:
    """Return True if ``host`` (already validated) is an IPv4 or IPv6 literal."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


# --- URLs ---


def _split_url(value: str, field: str) -> tuple[str, str, str | None, str]:
    """Split a URL into (scheme, host, port, rest) or raise ToolError."""
    _check_charset(value, field, MAX_URL_LEN)
    if "\\" in value:
        raise ToolError(field, f"{field}: must not contain backslashes")
    match = _URL_RE.fullmatch(value)
    if not match:
        raise ToolError(field, f"{field}: must be an absolute http:// or https:// URL")
    scheme = match["scheme"].lower()
    if scheme not in ("http", "https"):
        raise ToolError(field, f"{field}: only http and https URLs are allowed")
    authority, rest = match["authority"], match["rest"]
    if "@" in authority:
        raise ToolError(field, f"{field}: must not contain credentials (user:password@)")
    if not authority:
        raise ToolError(field, f"{field}: must include a host")
    port = None
    if authority.startswith("["):
        host, sep, tail = authority.partition("]")
        host += sep
        if tail:
            if not tail.startswith(":"):
                raise ToolError(field, f"{field}: invalid host or port")
            port = tail[1:]
    elif ":" in authority:
        host, _, port = authority.partition(":")
    else:
        host = authority
    return scheme, host, port, rest


def validate_url(value: Any, field: str = "url") -> str:
    """Validate an http(s) URL for curl; return it with scheme and host normalized."""
    scheme, host, port, rest = _split_url(value, field)
    try:
        norm_host = validate_host(host, field)
    except ToolError as exc:
        raise ToolError(field, exc.message.replace(f"{field}:", f"{field}: host", 1)) from None
    if ":" in norm_host:
        norm_host = f"[{norm_host}]"
    if port is not None:
        if not _PORT_RE.fullmatch(port) or not 1 <= int(port) <= 65535:
            raise ToolError(field, f"{field}: port must be a number 1-65535")
        norm_host += f":{int(port)}"
    bad = [c for c in rest if c not in _URL_TAIL_CHARS]
    if bad:
        raise ToolError(
            field, f"{field}: contains a character that must be percent-encoded: {bad[0]!r}"
        )
    if _PCT_RE.search(rest):
        raise ToolError(field, f"{field}: '%' must start a percent-encoding such as %20")
    return f"{scheme}://{norm_host}{rest}"


def url_host(url: str) -> str:
    """Return the host part of a validated URL, without brackets or port."""
    _, host, _, _ = _split_url(url, "url")
    return host.strip("[]").lower()


# --- Private-address policy ---


def _blocked_reason(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Return why ``addr`` must not be targeted, or None if it is a public address."""
    if isinstance(addr, ipaddress.IPv6Address):
        for embedded in (addr.ipv4_mapped, addr.sixtofour):
            if embedded is not None:
                return _blocked_reason(embedded)
        if addr.teredo is not None:
            return _blocked_reason(addr.teredo[1])
        if addr in _NAT64:
            return _blocked_reason(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
    if addr in _CGNAT:
        return "a shared (CGNAT)"
    checks = (
        ("is_unspecified", "an unspecified"),
        ("is_loopback", "a loopback"),
        ("is_link_local", "a link-local"),
        ("is_multicast", "a multicast"),
        ("is_private", "a private"),
        ("is_reserved", "a reserved"),
    )
    for attr, reason in checks:
        if getattr(addr, attr):
            return reason
    if getattr(addr, "is_site_local", False):
        return "a site-local"
    if not addr.is_global:  # other special-purpose ranges
        return "a non-public"
    return None


# A name lookup: host -> its addresses (``check_target_allowed``'s ``resolver``).
Resolver = Callable[[str], Awaitable[list[str]]]


async def _default_resolver(host: str) -> list[str]:
    """Resolve ``host`` with the event loop's getaddrinfo; return address strings."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return cast(list[str], [info[4][0] for info in infos])  # an address is the sockaddr's first item: a str


async def check_target_allowed(target: Any, deny_private: bool, resolver: Resolver | None = None) -> None:
    """Raise ToolError if ``deny_private`` and ``target`` is or resolves to a non-public address.

    ``resolver`` is an async callable ``host -> list[str]`` (default: getaddrinfo).
    Every address a name resolves to must be public. The agent resolves the name
    again on its own, so this is a policy check, not a guarantee against DNS rebinding.
    """
    host = validate_host(target, "target", service_labels=True)
    if not deny_private:
        return
    if is_ip_literal(host):
        reason = _blocked_reason(ipaddress.ip_address(host))
        if reason:
            raise ToolError("target", f"target: {host} is {reason} address")
        return
    bare = host.rstrip(".")
    if bare == "localhost" or bare.endswith(".localhost"):
        raise ToolError("target", f"target: {host} is a loopback name")
    resolve = resolver or _default_resolver
    try:
        addresses = await asyncio.wait_for(resolve(bare), RESOLVE_TIMEOUT)
    except (OSError, UnicodeError, ValueError, asyncio.TimeoutError):
        addresses = []
    if not addresses:
        raise ToolError("target", f"target: cannot resolve {host}")
    for text in addresses:
        try:
            addr = ipaddress.ip_address(str(text).split("%", 1)[0])
        except ValueError:
            raise ToolError("target", f"target: {host} resolves to an invalid address") from None
        reason = _blocked_reason(addr)
        if reason:
            raise ToolError("target", f"target: {host} resolves to {reason} address ({addr})")
