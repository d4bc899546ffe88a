"""Diagnostic tool templates: typed parameters, strict validation, per-platform commands.

Agents split a command on whitespace and run it without a shell (legacy-agent.md §3),
so every command is built as an argv list of fixed options plus validated values, each
a single token; user input never starts with ``-`` and never contains whitespace.

Parameter input rules (``validate_params``):

* ``int`` accepts JSON integers, and strings of ASCII digits (from HTML forms);
  booleans, floats (even ``4.0``), signs and spaces are refused; bounds are inclusive.
* ``number`` (seconds: ping's ``interval``) accepts JSON numbers and strings of ASCII
  digits with an optional ``.`` and up to 3 decimals; booleans, signs, exponents, NaN
  and infinities are refused; bounds are inclusive; a whole value comes back an ``int``.
* ``choice`` accepts one of the listed strings, case-insensitively (normalized to the
  listed spelling).
* ``host`` and ``url`` follow ``toolbox.tools.targets``.
* An optional parameter given as ``None`` or ``""`` counts as not given (its default
  applies); unknown parameters are refused by name.

``tcp`` on Windows ignores ``timeout`` (Test-NetConnection has no such option).

The command lines themselves live in ``toolbox.tools.commands``, chosen for the deployed
field agent (stdout only, whitespace collapsed, gone after a non-zero exit).  With
``field=True`` (an agent that did not register as toolbox-agent, see
``toolbox.tools.field_wrap``) a Linux command runs under a Perl wrapper that folds
standard error in, prints the exit code and exits 0, so every failure is reported;
Windows commands are not wrapped (the README says what that would take).
:func:`time_limit` gives the most seconds a built command can run (see its docstring
for the formulas); it adds no grace.
"""

from dataclasses import dataclass, field as dc_field
import math
from collections.abc import Callable
from typing import Any, Optional
import re

from toolbox.tools import commands as cmd
from toolbox.tools.field_wrap import field_argv
from toolbox.tools.parsers import CURL_WRITE_OUT
from toolbox.tools.targets import (
    ToolError,
    check_target_allowed,
    is_ip_literal,
    shown,
    url_host,
    validate_host,
    validate_url,
)

__all__ = [
    "CURL_WRITE_OUT", "PARAM_TYPES", "PLATFORMS", "TOOLS", "Param", "Tool", "ToolError", "build_argv",
    "build_command", "check_target_allowed", "contacted_hosts", "describe_tools",
    "full_target", "target_of", "time_limit", "tool_request", "ToolRequest",
    "validate_params",
]

PLATFORMS = ("linux", "windows")
PARAM_TYPES = ("host", "url", "int", "number", "choice")
#: Platforms whose field agents get every tool's command under the wrapper (``field_wrap``).
FIELD_WRAPPED = ("linux",)

DNS_RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "NS", "TXT", "SOA", "PTR", "CAA", "SRV")

_DIGITS_RE = re.compile(r"[0-9]{1,10}")
_DECIMAL_RE = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,3})?")
NUMBER_DECIMALS = 3  # a ``number`` parameter's precision (milliseconds, for seconds)


@dataclass(frozen=True)
class Param:
    """One typed tool parameter."""

    name: str
    type: str  # one of PARAM_TYPES
    description: str
    required: bool = False
    default: object = None
    min: Optional[float] = None
    max: Optional[float] = None
    choices: Optional[tuple] = None
    ip_only: bool = False  # host: IP literal only
    service_labels: bool = False  # host: allow DNS service labels such as _dmarc

    def describe(self) -> dict[str, Any]:
        """Return the JSON description used by GET /api/tools."""
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "min": self.min,
            "max": self.max,
            "choices": list(self.choices) if self.choices else None,
            "description": self.description,
        }

    def validate(self, value: Any) -> Any:
        """Return the normalized value or raise ToolError naming this parameter."""
        if self.type == "host":
            return validate_host(
                value, self.name, ip_only=self.ip_only, service_labels=self.service_labels
            )
        if self.type == "url":
            return validate_url(value, self.name)
        if self.type == "int":
            return self._validate_int(value)
        if self.type == "number":
            return self._validate_number(value)
        if self.type == "choice":
            return self._validate_choice(value)
        raise AssertionError(f"unknown parameter type {self.type}")

    def _validate_int(self, value: Any) -> int:
        """Accept a JSON int (not bool) or a string of ASCII digits, within bounds."""
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ToolError(self.name, f"{self.name}: must be an integer")
        if isinstance(value, str):
            if not _DIGITS_RE.fullmatch(value):
                raise ToolError(self.name, f"{self.name}: must be an integer")
            value = int(value)
        if not self.min <= value <= self.max:
            raise ToolError(
                self.name, f"{self.name}: must be between {self.min} and {self.max}"
            )
        return value

    def _validate_number(self, value: Any) -> int | float:
        """Accept a JSON number (not bool) or a decimal string, within bounds, at most
        ``NUMBER_DECIMALS`` decimals; a whole value is returned as an ``int``."""
        message = f"{self.name}: must be a number with at most {NUMBER_DECIMALS} decimals"
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ToolError(self.name, message)
        if isinstance(value, str):
            if not _DECIMAL_RE.fullmatch(value):
                raise ToolError(self.name, message)
            value = float(value)
        if not math.isfinite(value) or round(value, NUMBER_DECIMALS) != value:
            raise ToolError(self.name, message)
        if not self.min <= value <= self.max:  # type: ignore[operator]  # a number parameter has bounds
            raise ToolError(self.name, f"{self.name}: must be between {self.min:g} and {self.max:g}")
        return int(value) if value == int(value) else value

    def _validate_choice(self, value: Any) -> str:
        """Accept one of ``choices`` case-insensitively."""
        if isinstance(value, str) and value.isascii():
            for choice in self.choices:  # type: ignore[union-attr]  # a choice parameter has choices
                if value.upper() == choice.upper():
                    return choice
        raise ToolError(self.name, f"{self.name}: must be one of {', '.join(self.choices)}")  # type: ignore[arg-type]


@dataclass(frozen=True)
class Tool:
    """A diagnostic tool: its parameters and one argv builder per platform."""

    name: str
    title: str
    description: str
    params: tuple
    builders: dict  # platform -> callable(params) -> list[str]
    limits: dict  # platform -> callable(params) -> seconds (see time_limit)
    target_param: str = "target"
    check: Callable[[cmd.Params], None] | None = None  # optional callable(params) raising ToolError (cross-field rules)
    param_map: dict = dc_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "param_map", {p.name: p for p in self.params})

    @property
    def platforms(self) -> list[str]:
        """Platforms this tool can run on, in PLATFORMS order."""
        return [p for p in PLATFORMS if p in self.builders]


# --- Parameter factories ---


def _target(description: str = "Hostname, IPv4 or IPv6 address", **kwargs: Any) -> Param:
    return Param("target", "host", description, required=True, **kwargs)


def _int(name: str, low: int, high: int, default: int | None, description: str, required: bool = False) -> Param:
    return Param(name, "int", description, required=required, default=default, min=low, max=high)


def _number(name: str, low: float, high: float, description: str) -> Param:
    """An optional decimal parameter with no default: absent, the command leaves the tool's own."""
    return Param(name, "number", description, min=low, max=high)


# --- Cross-field checks ---


def _dig_check(p: cmd.Params) -> None:
    if is_ip_literal(p["target"]) and p["record_type"] != "PTR":
        raise ToolError(
            "target",
            "target: must be a hostname (an IP address is allowed only with record_type PTR)",
        )


# --- Registry ---

# Tools whose Windows command exits non-zero on a failure (field_wrap wraps Linux only).
_WINDOWS_FIELD = (" A Windows field agent, whose commands are not wrapped, exits itself when "
                  "its command exits non-zero on a failure, and reports nothing.")

_TOOL_LIST = [
    Tool(
        "ping", "Ping", "Send ICMP echo requests and report loss and round-trip times. "
        "An unknown host or no reply at all is a failure, with its reason." + _WINDOWS_FIELD,
        (
            _target(),
            _int("count", 1, 20, 4, "Number of echo requests"),
            _int("timeout", 1, 10, 2, "Seconds to wait for each reply"),
            _number("interval", cmd.PING_MIN_INTERVAL, cmd.PING_MAX_INTERVAL,
                    "Seconds between requests (default 1; Linux only: Windows ping sends one a second)"),
        ),
        {"linux": cmd.ping_linux, "windows": cmd.ping_windows},
        {"linux": cmd.ping_linux_limit, "windows": cmd.ping_windows_limit},
    ),
    Tool(
        "traceroute", "Traceroute", "Show the network path (hops) to a host. An unknown "
        "host is a failure, with its reason." + _WINDOWS_FIELD,
        (
            _target(),
            _int("max_hops", 1, 64, 30, "Maximum number of hops"),
            _int("timeout", 1, 10, 2, "Seconds to wait for each probe"),
        ),
        {"linux": cmd.traceroute_linux, "windows": cmd.traceroute_windows},
        {"linux": cmd.trace_limit("linux"), "windows": cmd.trace_limit("windows")},
    ),
    Tool(
        "mtr", "MTR", "Combined ping and traceroute report (Linux agents only). An unknown "
        "host is a failure, with its reason.",
        (
            _target(),
            _int("count", 1, 50, 10, "Number of pings per hop"),
        ),
        {"linux": cmd.mtr_linux},
        {"linux": cmd.mtr_limit},
    ),
    Tool(
        "dig", "DNS lookup", "Query DNS records for a name (or reverse-resolve an IP with "
        "PTR). NXDOMAIN and SERVFAIL come back as answers; no DNS server reached is a "
        "failure." + _WINDOWS_FIELD,
        (
            _target("Hostname to look up (an IP address only with PTR)", service_labels=True),
            Param("record_type", "choice", "DNS record type", default="A",
                  choices=DNS_RECORD_TYPES),
            Param("server", "host", "DNS server IP address (default: the agent's resolver)",
                  ip_only=True),
        ),
        {"linux": cmd.dig_linux, "windows": cmd.dig_windows},
        {"linux": cmd.dig_linux_limit, "windows": cmd.dig_windows_limit},
        check=_dig_check,
    ),
    Tool(
        "curl", "HTTP timing", "Fetch an http(s) URL and report DNS, connect, TLS and "
        "first-byte timings and the status code. Every HTTP status comes back; a transfer "
        "that fails (unknown host, refused, timeout, TLS error) is a failure, with its "
        "reason." + _WINDOWS_FIELD,
        (
            Param("url", "url", "http:// or https:// URL", required=True),
            _int("timeout", 1, 60, 10, "Maximum seconds for the whole transfer"),
        ),
        {"linux": cmd.curl_linux, "windows": cmd.curl_windows},
        {"linux": cmd.curl_limit, "windows": cmd.curl_limit},
        target_param="url",
    ),
    Tool(
        "tcp", "TCP port check", "Test whether a TCP port accepts connections. Linux agents "
        "run a small Perl check (Perl is in every Debian and Ubuntu base system) that "
        "reports open, refused, timed out or unknown host and always exits 0; Windows "
        "agents use Test-NetConnection, which has no timeout.",
        (
            _target(),
            _int("port", 1, 65535, None, "TCP port", required=True),
            _int("timeout", 1, 10, 3, "Seconds to wait for the connection (Linux only)"),
        ),
        {"linux": cmd.tcp_linux, "windows": cmd.tcp_windows},
        {"linux": cmd.tcp_linux_limit, "windows": cmd.tcp_windows_limit},
    ),
]

TOOLS = {tool.name: tool for tool in _TOOL_LIST}


# --- Public API ---


def describe_tools() -> list[dict[str, Any]]:
    """Return the tool catalogue for GET /api/tools."""
    return [
        {
            "name": tool.name,
            "title": tool.title,
            "description": tool.description,
            "platforms": tool.platforms,
            "params": [param.describe() for param in tool.params],
        }
        for tool in TOOLS.values()
    ]


def _get_tool(tool_name: Any) -> Tool:
    tool = TOOLS.get(tool_name) if isinstance(tool_name, str) else None
    if tool is None:
        raise ToolError(None, f"unknown tool: {shown(tool_name)}")
    return tool


def validate_params(tool_name: Any, params: Any) -> cmd.Params:
    """Return ``params`` normalized with defaults filled; raise ToolError if invalid."""
    tool = _get_tool(tool_name)
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ToolError(None, "params: must be an object")
    for key in params:
        if key not in tool.param_map:
            name = key[:64] if isinstance(key, str) else repr(key)
            raise ToolError(name, f"{shown(key)}: unknown parameter for tool {tool.name}")
    result: cmd.Params = {}
    for param in tool.params:
        value = params.get(param.name)
        if value is None or value == "":
            if param.required:
                raise ToolError(param.name, f"{param.name}: is required")
            result[param.name] = param.default
        else:
            result[param.name] = param.validate(value)
    if tool.check:
        tool.check(result)
    return result


def build_argv(tool_name: Any, params: Any, platform: str, field: bool = False) -> list[str]:
    """Return the argv list for ``platform``; ``params`` are re-validated defensively.

    ``field``: for the deployed field agent (on Linux, under ``toolbox.tools.field_wrap``)."""
    tool = _get_tool(tool_name)
    _check_platform(tool, tool.builders, platform)
    return _argv(tool, validate_params(tool_name, params), platform, field)


def _check_platform(tool: Tool, table: dict[str, Any], platform: str) -> None:
    if platform not in PLATFORMS:
        raise ToolError(None, f"platform: must be one of {', '.join(PLATFORMS)}")
    if platform not in table:
        raise ToolError(None, f"{tool.name}: not available on {platform} agents")


def _argv(tool: Tool, params: cmd.Params, platform: str, field: bool = False) -> list[str]:
    """The argv list from validated ``params``, refused if any argument is not one safe token;
    for a field agent on Linux, run under the wrapper that always exits 0 (``field_wrap``)."""
    argv = tool.builders[platform](params)
    if field and platform in FIELD_WRAPPED:
        argv = field_argv(argv)
    for arg in argv:
        if not arg or arg != "".join(arg.split()) or not arg.isprintable():
            raise ToolError(None, f"{tool.name}: refusing to build an unsafe command")
    return argv


def _limit(tool: Tool, params: cmd.Params, platform: str) -> int:
    """Whole seconds the command for validated ``params`` can run on ``platform``."""
    return math.ceil(tool.limits[platform](params))


def build_command(tool_name: Any, params: Any, platform: str, field: bool = False) -> str:
    """Return the command line the agent splits on whitespace and runs without a shell."""
    return " ".join(build_argv(tool_name, params, platform, field))


def time_limit(tool_name: Any, params: Any, platform: str) -> int:
    """Return the most whole seconds the built command can run on ``platform``.

    An upper bound derived from the parameters and the fixed options of the command,
    with no grace added (the formulas: ``toolbox.tools.commands``).
    """
    tool = _get_tool(tool_name)
    _check_platform(tool, tool.limits, platform)
    return _limit(tool, validate_params(tool_name, params), platform)


def target_of(tool_name: Any, params: Any) -> str:
    """Return the host the tool aims at (the URL's host for curl), for rate limits."""
    return tool_request(tool_name, params).target


def full_target(tool_name: Any, params: Any, target: str | None = None) -> str | None:
    """What a job aims at as people name it: the whole URL for curl, host:port for tcp,
    the name and its DNS server for dig, else the host (``target`` when params lack it)."""
    params = params if isinstance(params, dict) else {}
    if tool_name == "curl" and isinstance(params.get("url"), str):
        return params["url"]
    host = params.get("target") if isinstance(params.get("target"), str) else target
    if host is None:
        return None
    if tool_name == "tcp" and params.get("port") is not None:
        return f"[{host}]:{params['port']}" if ":" in host else f"{host}:{params['port']}"
    if tool_name == "dig" and isinstance(params.get("server"), str):
        return f"{host} @{params['server']}"
    return host


def contacted_hosts(tool_name: Any, params: Any) -> list[str]:
    """Return every host the agent will contact: the target, plus the DNS server for dig."""
    return list(tool_request(tool_name, params).hosts)


@dataclass(frozen=True)
class ToolRequest:
    """A tool run validated once: normalized ``params``, the ``target`` host (for rate
    limits), every host the agent contacts (``hosts``), and its command per platform."""

    tool: str
    params: dict
    target: str
    hosts: tuple

    def command(self, platform: str, field: bool = False) -> tuple[str, int]:
        """(command line, time limit in seconds) on ``platform``, for a field agent when
        ``field`` (see ``build_argv``); ToolError where it does not run."""
        tool = TOOLS[self.tool]
        _check_platform(tool, tool.builders, platform)
        command = " ".join(_argv(tool, self.params, platform, field))
        _check_platform(tool, tool.limits, platform)
        return command, _limit(tool, self.params, platform)


def tool_request(tool_name: str, params: Any) -> ToolRequest:
    """Validate ``params`` for ``tool_name`` once into a :class:`ToolRequest`; ToolError if invalid."""
    tool = _get_tool(tool_name)
    params = validate_params(tool_name, params)
    value = params[tool.target_param]
    target = url_host(value) if tool.target_param == "url" else value
    server = params.get("server")
    return ToolRequest(tool_name, params, target, (target, server) if server else (target,))
