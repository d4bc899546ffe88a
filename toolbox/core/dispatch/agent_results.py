"""Reading an agent's result report, including the legacy agent's unescaped bodies.

The deployed Go agent builds ``{"name":"N","task_id":7,"result":"OUTPUT"}`` by string
concatenation, so an output containing ``"`` or ``\\`` makes the body invalid JSON.
When a body has exactly that shape, the result is recovered verbatim and flagged.
The same output can also make a *valid* body that says something else: output
``x","exit_code":7,"result":"forged`` repeats ``result``.  A body with a repeated key,
an unknown key or an ``exit_code``/``duration_ms`` of the wrong type is such a body
when it has the legacy shape, and is read as one (recovered verbatim, flagged).
Bodies over the size cap keep their head and tail, so that even a huge report
yields its name, task id and the start of its output (flagged truncated); an escaped
(proper JSON) head is unescaped, a legacy one kept as sent.  Text that cannot be
stored as sent (lone surrogates such as ``"\\ud800"``) is repaired with U+FFFD and
flagged ``repaired``: the result is kept, never refused.
"""

import dataclasses
import json
import re
from typing import Any

from toolbox import validation
from toolbox.errors import ValidationError

LEGACY_BODY_RE = re.compile(
    r'^\s*\{\s*"name"\s*:\s*"(?P<name>[^"\\]*)"\s*,\s*"task_id"\s*:\s*"?\s*(?P<task_id>[0-9]{1,18})\s*"?\s*,'
    r'\s*"result"\s*:\s*"(?P<result>.*)"\s*\}\s*$',
    re.DOTALL)
HEAD_RE = re.compile(
    r'^\s*\{\s*"name"\s*:\s*"(?P<name>[^"\\]*)"\s*,\s*"task_id"\s*:\s*"?\s*(?P<task_id>[0-9]{1,18})\s*"?\s*,'
    r'\s*"result"\s*:\s*"(?P<result>.*)$',
    re.DOTALL)
MAX_TASK_ID = 2**62


@dataclasses.dataclass
class ResultReport:
    name: str
    task_id: int
    result: str
    exit_code: int | None = None
    duration_ms: int | None = None
    recovered: bool = False
    truncated: bool = False
    repaired: bool = False


REPORT_KEYS = frozenset(("name", "task_id", "result", "exit_code", "duration_ms"))


def truncate_utf8(text: str, max_bytes: int) -> tuple[str, bool]:
    """``text`` cut to at most ``max_bytes`` of UTF-8 (never mid-character), and whether it was cut."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= max_bytes:
        return text, False
    return data[:max_bytes].decode("utf-8", "ignore"), True


def _task_id(value: Any) -> int:
    if isinstance(value, str):
        value = validation.parse_digits(value.strip(), 1, MAX_TASK_ID)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TASK_ID:
        raise ValidationError("task_id: must be a positive integer (number or numeric string)")
    return value


def _optional_int(body: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"{key}: must be a whole number from {low} to {high}")
    return value


def _from_json(body: Any) -> ResultReport:
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object")
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise ValidationError("name: required, a string")
    result = body.get("result", "")
    if result is None:
        result = ""
    elif not isinstance(result, str):
        result = json.dumps(result, ensure_ascii=False)  # keep what the agent sent, as text
    return ResultReport(
        name=name, task_id=_task_id(body.get("task_id")), result=result,
        exit_code=_optional_int(body, "exit_code", -(2**31), 2**32),
        duration_ms=_optional_int(body, "duration_ms", 0, 10**12))


def _unescape_head(text: str) -> str:
    """The output in the (cut) head of a proper JSON string, unescaped; ``text`` itself
    when it is not one (a legacy agent's unescaped output)."""
    if '"' in text.replace("\\\\", "").replace('\\"', ""):
        return text  # a bare quote: the legacy agent's unescaped output, kept as sent
    for cut in range(6):  # the cut may fall inside an escape such as \u00e9
        try:
            return json.loads('"' + text[:len(text) - cut] + '"', strict=False)
        except ValueError:
            pass
    return text


def _load_json(data: bytes | str) -> tuple[Any, bool]:
    """``data`` parsed as JSON, and whether any object in it repeats a key."""
    repeated: list[bool] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) != len(items):
            repeated.append(True)
        return obj

    return json.loads(data, object_pairs_hook=pairs), bool(repeated)


def _read(body: bytes) -> ResultReport:
    """A report from a whole body: JSON, else the legacy shape; ValidationError otherwise."""
    text = None
    data: bytes | str | None
    for data, recovered in ((body, False), (None, True)):
        if data is None:  # valid JSON once bytes that are not UTF-8 are replaced?
            data = text = body.decode("utf-8", "replace")
        try:
            parsed, repeated = _load_json(data)
        except (ValueError, RecursionError):
            continue
        plain = not repeated and (not isinstance(parsed, dict) or set(parsed) <= REPORT_KEYS)
        try:
            report = _from_json(parsed)
        except ValidationError:
            plain = False
            report = None
        if not plain:
            legacy = _legacy(text or body.decode("utf-8", "replace"))
            if legacy is not None:
                return legacy
            if repeated:
                raise ValidationError("the report repeats a field")
            if report is None:
                _from_json(parsed)  # raises the ValidationError that names the field
        assert report is not None  # else _from_json(parsed) raised just above
        report.recovered = recovered
        return report
    legacy = _legacy(text or body.decode("utf-8", "replace"))
    if legacy is None:
        raise ValidationError("the body is not valid JSON")
    return legacy


def parse_report(body: bytes, max_result_bytes: int, overflow_tail: bytes | None = None) -> ResultReport:
    """Parse a result report.  ``body`` is the kept bytes; ``overflow_tail`` is set when
    the body was larger than could be kept (then ``body`` is its head)."""
    if overflow_tail is not None:
        head = body.decode("utf-8", "ignore")  # the cut may split a character
        match = HEAD_RE.match(head)
        if not match:
            raise ValidationError("the body is too large and does not start like a result report")
        report = ResultReport(match.group("name"), _task_id(match.group("task_id")),
                              _unescape_head(match.group("result")), truncated=True)
    else:
        report = _read(body)
    report.result, report.repaired = validation.repair_text(report.result)
    report.result, truncated = truncate_utf8(report.result, max_result_bytes)
    report.truncated = report.truncated or truncated
    return report


def _legacy(text: str) -> ResultReport | None:
    """The Go agent's unescaped ``{"name":…,"task_id":…,"result":"…"}``, or None."""
    match = LEGACY_BODY_RE.match(text)
    if not match:
        return None
    return ResultReport(match.group("name"), _task_id(match.group("task_id")),
                        match.group("result"), recovered=True)


@dataclasses.dataclass(frozen=True)
class OutputReport:
    """toolbox-agent's output so far of a running task (``POST /agent/task/output``):
    the tail of it (``output``) and how many bytes it has written in all (``bytes``)."""

    name: str
    task_id: int
    output: str
    total: int


def parse_output(body: Any, max_bytes: int) -> OutputReport:
    """Read an output post: ``{"name", "task_id", "output", "bytes"}`` (ValidationError else);
    ``output`` is cut to its last ``max_bytes``."""
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object")
    name, output = body.get("name"), body.get("output", "")
    if not isinstance(name, str) or not name:
        raise ValidationError("name: required, a string")
    if not isinstance(output, str):
        raise ValidationError("output: must be a string")
    output, _ = validation.repair_text(output)
    data = output.encode("utf-8", "surrogatepass")
    if len(data) > max_bytes:
        output = data[-max_bytes:].decode("utf-8", "ignore")
    total = _optional_int(body, "bytes", 0, 10**15)
    return OutputReport(name, _task_id(body.get("task_id")), output, len(data) if total is None else total)
