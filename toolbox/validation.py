"""Checks of what clients send: names, tags, platforms, raw commands, booleans and numbers.

Each returns the value to store or raises ``ValidationError`` (a 400 with the field named);
``agent_changes`` reads a whole ``PATCH /api/agents/{name}`` body into ``AgentChanges``.
The JSON shapes toolBox sends back are in ``toolbox.presenters``.
"""

import dataclasses
import re
from collections.abc import Iterable
from typing import Any

from toolbox.errors import ValidationError

AGENT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")
PLATFORMS = ("linux", "windows")
MAX_TAGS = 32
MAX_COMMAND_LENGTH = 4096


def check_fields(body: Any, allowed: Iterable[str], required: Iterable[str] = ()) -> None:
    """Refuse a body that is not an object, lacks a required key or has an unknown one."""
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ValidationError(f"unknown field: {unknown[0]}")
    for key in required:
        if key not in body:
            raise ValidationError(f"{key}: required")


def agent_name(value: Any, field: str = "name") -> str:
    """A valid agent name, or ValidationError."""
    if not isinstance(value, str) or not AGENT_NAME_RE.fullmatch(value):
        raise ValidationError(
            f"{field}: must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return value


def tags(value: Any) -> list[str]:
    """A sorted, de-duplicated list of valid tags (e.g. ``isp:telecom``)."""
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise ValidationError("tags: must be a list of strings")
    if len(value) > MAX_TAGS:
        raise ValidationError(f"tags: at most {MAX_TAGS}")
    for tag in value:
        if not TAG_RE.fullmatch(tag):
            raise ValidationError(f"tags: {tag[:70]!r} is not a valid tag (letters, digits, . _ : / -)")
    return sorted(set(value))


def platform(value: Any) -> str:
    """``linux`` or ``windows``."""
    if value not in PLATFORMS:
        raise ValidationError("platform: must be 'linux' or 'windows'")
    return value


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def repair_text(text: str) -> tuple[str, bool]:
    """``text`` made storable, and whether it had to be: lone surrogates (a client's
    ``"\\ud800"``, valid JSON but not Unicode text; MongoDB refuses them) become U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub("\ufffd", text), True
    return text, False


def command(value: Any) -> str:
    """A raw command line: non-empty, one line, bounded; lone surrogates become U+FFFD
    (``command_repaired`` says whether they did)."""
    return command_repaired(value)[0]


def command_repaired(value: Any) -> tuple[str, bool]:
    """``(command, repaired)``: the checked raw command line, and whether it was repaired."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("command: must be a non-empty string")
    if len(value) > MAX_COMMAND_LENGTH:
        raise ValidationError(f"command: at most {MAX_COMMAND_LENGTH} characters")
    if any(ch in value for ch in "\r\n\x00"):
        raise ValidationError("command: must be a single line")
    text, repaired = repair_text(value)
    return " ".join(text.split()), repaired


def boolean(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{field}: must be true or false")
    return value


_ASCII_NUMBER = re.compile(r"-?[0-9]{1,19}")


def parse_digits(text: Any, low: int, high: int) -> int | None:
    """The whole number written in ``text`` when it is ASCII digits (an optional ``-``, at
    most 19 digits) within ``low..high``; None for anything else.

    The one reader of numbers that clients write (query arguments, path ids, numeric
    strings in bodies): ``str.isdigit`` and ``int`` also take ``²``, ``①``, ``١`` or ``１``,
    and ``int`` refuses, slowly, a number thousands of digits long.
    """
    if not isinstance(text, str) or not _ASCII_NUMBER.fullmatch(text):
        return None
    value = int(text)
    return value if low <= value <= high else None


def int_in(value: Any, field: str, low: int, high: int) -> int:
    """A JSON integer, or a string of ASCII digits (a query argument), within bounds."""
    if isinstance(value, str):
        number = parse_digits(value, low, high)
        if number is not None:
            return number
    elif not isinstance(value, bool) and isinstance(value, int) and low <= value <= high:
        return value
    raise ValidationError(f"{field}: must be a whole number from {low} to {high}")


@dataclasses.dataclass(frozen=True)
class AgentChanges:
    """What an admin changes of an agent (None: left as it is)."""

    tags: list[str] | None = None
    platform: str | None = None
    disabled: bool | None = None

    def fields(self) -> dict[str, Any]:
        """The changed fields, by name."""
        return {key: value for key, value in dataclasses.asdict(self).items() if value is not None}


def agent_changes(body: Any) -> AgentChanges:
    """The changes a body asks for: ``{tags, platform, disabled}``, each optional and checked."""
    check_fields(body, ("tags", "platform", "disabled"))
    return AgentChanges(tags=tags(body["tags"]) if "tags" in body else None,
                        platform=platform(body["platform"]) if "platform" in body else None,
                        disabled=boolean(body["disabled"], "disabled") if "disabled" in body else None)
