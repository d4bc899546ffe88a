"""Compact JSON text for the hot path (answers to agents and API clients, console events).

``orjson`` encodes the same bytes as ``json.dumps(..., ensure_ascii=False,
separators=(",", ":"))`` for what toolBox sends (checked in ``tests/test_jsontext.py``:
every character up to U+07FF, the line separators, astral characters, ints, floats,
``None``/``True``/``False``, nesting) at a fraction of the cost.  Whatever it refuses or
would write otherwise goes through ``json`` as before: ints beyond 64 bits, non-string
keys, lone surrogates, floats whose exponent ``json`` pads (``1e-07``), and types that
need ``default`` (datetimes included: ``orjson`` would write them itself, in ISO form
where ``default=str`` writes a space).  One difference is kept:
a float NaN or infinity is written ``null`` where ``json`` wrote ``NaN``/``Infinity``, which
no JSON parser takes (a browser's ``JSON.parse`` refuses the whole message); finding them
first would cost a walk of every answer.
"""

import json
import re
from collections.abc import Callable
from typing import Any

import orjson

# ``json`` writes a float's exponent with at least two digits (1e-07), ``orjson`` with one (1e-7)
_SHORT_EXPONENT = re.compile(rb"[0-9]e-[1-9](?![0-9])")
_PASS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


class _Refused(Exception):
    """``orjson`` met something ``json`` writes otherwise: encode with ``json``."""


def _refuse(value: Any) -> Any:
    raise _Refused


def dumps_bytes(data: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """``data`` as compact UTF-8 JSON bytes, what ``json.dumps(data, ensure_ascii=False,
    separators=(",", ":"), default=default)`` encoded would be.  Raises what ``json`` raises
    (TypeError for what it cannot encode, UnicodeEncodeError for a lone surrogate)."""
    try:
        text = orjson.dumps(data, default=_refuse, option=_PASS)
    except (orjson.JSONEncodeError, _Refused):
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=default).encode("utf-8")
    if b"e-" in text and _SHORT_EXPONENT.search(text):
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=default).encode("utf-8")
    return text
