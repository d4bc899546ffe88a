"""Validation of what clients send, and the JSON shapes toolBox sends back.

Documents never leave the server raw: ``agent_model`` and ``task_model`` pick the
public fields and turn datetimes into ISO strings.
"""

import datetime
import functools
import re

from toolbox.errors import ValidationError  # noqa: F401  (re-exported)

AGENT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")
PLATFORMS = ("linux", "windows")
MAX_TAGS = 32
MAX_COMMAND_LENGTH = 4096

QUEUED, DISPATCHED, DONE = "queued", "dispatched", "done"
CANCELED, DELIVERY_TIMEOUT, LOST = "canceled", "delivery_timeout", "lost"
TASK_STATES = (QUEUED, DISPATCHED, DONE, CANCELED, DELIVERY_TIMEOUT, LOST)
TERMINAL_STATES = (DONE, CANCELED, DELIVERY_TIMEOUT, LOST)


def utcnow():
    """Now in UTC, at the millisecond precision MongoDB stores."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def isoformat(value):
    """An ISO-8601 string for a stored datetime (naive ones are UTC), or None."""
    if value is None:
        return None
    return _isoformat(value)


@functools.lru_cache(maxsize=4096)  # a job's tasks share their creation time: one string for all
def _isoformat(value):
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.isoformat().replace("+00:00", "Z")


def check_fields(body, allowed, required=()):
    """Refuse a body that is not an object, lacks a required key or has an unknown one."""
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ValidationError(f"unknown field: {unknown[0]}")
    for key in required:
        if key not in body:
            raise ValidationError(f"{key}: required")


def agent_name(value, field="name"):
    """A valid agent name, or ValidationError."""
    if not isinstance(value, str) or not AGENT_NAME_RE.fullmatch(value):
        raise ValidationError(
            f"{field}: must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return value


def tags(value):
    """A sorted, de-duplicated list of valid tags (e.g. ``isp:telecom``)."""
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise ValidationError("tags: must be a list of strings")
    if len(value) > MAX_TAGS:
        raise ValidationError(f"tags: at most {MAX_TAGS}")
    for tag in value:
        if not TAG_RE.fullmatch(tag):
            raise ValidationError(f"tags: {tag[:70]!r} is not a valid tag (letters, digits, . _ : / -)")
    return sorted(set(value))


def platform(value):
    """``linux`` or ``windows``."""
    if value not in PLATFORMS:
        raise ValidationError("platform: must be 'linux' or 'windows'")
    return value


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def repair_text(text):
    """``text`` made storable, and whether it had to be: lone surrogates (a client's
    ``"\\ud800"``, valid JSON but not Unicode text; MongoDB refuses them) become U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub("\ufffd", text), True
    return text, False


def command(value):
    """A raw command line: non-empty, one line, bounded; lone surrogates become U+FFFD
    (``command_repaired`` says whether they did)."""
    return command_repaired(value)[0]


def command_repaired(value):
    """``(command, repaired)``: the checked raw command line, and whether it was repaired."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("command: must be a non-empty string")
    if len(value) > MAX_COMMAND_LENGTH:
        raise ValidationError(f"command: at most {MAX_COMMAND_LENGTH} characters")
    if any(ch in value for ch in "\r\n\x00"):
        raise ValidationError("command: must be a single line")
    text, repaired = repair_text(value)
    return " ".join(text.split()), repaired


def boolean(value, field):
    if not isinstance(value, bool):
        raise ValidationError(f"{field}: must be true or false")
    return value


_ASCII_NUMBER = re.compile(r"-?[0-9]{1,19}")


def parse_digits(text, low, high):
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


def int_in(value, field, low, high):
    """A JSON integer, or a string of ASCII digits (a query argument), within bounds."""
    if isinstance(value, str):
        number = parse_digits(value, low, high)
        if number is not None:
            return number
    elif not isinstance(value, bool) and isinstance(value, int) and low <= value <= high:
        return value
    raise ValidationError(f"{field}: must be a whole number from {low} to {high}")


def agent_model(doc, online=False, last_seen=None):
    """The public JSON of an agent (never its token hash)."""
    return {
        "name": doc["_id"],
        "tags": doc.get("tags", []),
        "platform": doc.get("platform", "linux"),
        "disabled": bool(doc.get("disabled", False)),
        "online": bool(online),
        "created_at": isoformat(doc.get("created_at")),
        "registered_at": isoformat(doc.get("registered_at")),
        "last_seen": isoformat(last_seen or doc.get("last_seen")),
        "address": doc.get("address"),
        "user_agent": doc.get("user_agent"),
        "token_reset_at": isoformat(doc.get("token_reset_at")),
    }


RESULT_PREVIEW_BYTES = 4096


def result_preview(text, limit=RESULT_PREVIEW_BYTES):
    """``(preview, size_bytes)``: the first ``limit`` bytes of a result (cut on a character
    boundary) and the whole result's size in UTF-8 bytes; ``(None, 0)`` for no result."""
    if text is None:
        return None, 0
    if text.isascii():  # O(1) in CPython: a byte per character
        return text[:limit], len(text)
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text, len(data)
    return data[:limit].decode("utf-8", "ignore"), len(data)


def with_result_preview(model, limit=RESULT_PREVIEW_BYTES):
    """A task's JSON for lists: ``result`` replaced by ``result_preview`` and ``result_bytes``
    (the whole result: ``GET /api/tasks/{id}`` or ``GET /api/tasks/{id}/result``)."""
    model = dict(model)
    model["result_preview"], model["result_bytes"] = result_preview(model.pop("result", None), limit)
    return model


def task_model(doc):
    """The public JSON of a task."""
    return {
        "task_id": doc["_id"],
        "agent": doc["agent"],
        "command": doc["command"],
        "state": doc["state"],
        "created_at": isoformat(doc.get("created_at")),
        "dispatched_at": isoformat(doc.get("dispatched_at")),
        "finished_at": isoformat(doc.get("finished_at")),
        "result": doc.get("result"),
        "exit_code": doc.get("exit_code"),
        "duration_ms": doc.get("duration_ms"),
        "result_truncated": bool(doc.get("result_truncated", False)),
        "result_recovered": bool(doc.get("result_recovered", False)),
        "result_repaired": bool(doc.get("result_repaired", False)),
        "command_repaired": bool(doc.get("command_repaired", False)),
        "job_id": doc.get("job_id"),
        "tool": doc.get("tool"),
        "target": doc.get("target"),
        "created_by": doc.get("created_by"),
        "time_limit": doc.get("time_limit"),
        "outcome": doc.get("outcome"),
        "summary": doc.get("summary"),
        "reason": doc.get("reason"),
    }


def task_event(doc):
    """What a ``task.done`` event carries: the task, its reading, and a bounded preview.

    Consoles show a finished task from the event alone; the whole result stays one
    ``GET /api/tasks/{id}`` away (it can be megabytes, and every console gets every event).
    """
    model = task_model(doc)
    model["result_preview"], model["result_bytes"] = result_preview(model.pop("result"))
    model["parsed"] = doc.get("parsed")
    return model
