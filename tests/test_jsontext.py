"""``toolbox.jsontext.dumps_bytes`` writes the bytes ``json.dumps`` (compact, UTF-8) writes."""

import dataclasses
import datetime
import enum
import json

import pytest

from toolbox.jsontext import dumps_bytes


def reference(data, default=None):
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=default).encode("utf-8")


class Colour(str, enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int


EVERY_CHARACTER = "".join(chr(i) for i in range(0x800)) + "\u2028\u2029\ufeff\U0001f600"
SAMPLES = [
    {"task_id": 12, "command": EVERY_CHARACTER, "timeout": 30.0},
    {"status": True, "task_id": 7, "duplicate": False, "result_truncated": False},
    [None, True, False, -1, 0, 1.5, 0.1, 1e16, 1e300, 1e-7, 2.5e-05, 1e-10, 2**63, -(2**63), 2**70],
    {"nested": {"list": [[], {}, ""], "n": 1234567890.125}},
    {1: "an int key", "b": 2},
    Colour.RED,
    {"at": datetime.datetime(2026, 12, 7, 20, 33, 1, tzinfo=datetime.timezone.utc)},
    {"point": Point(3)},
]


@pytest.mark.parametrize("data", SAMPLES)
def test_the_same_bytes_as_json_with_default_str(data):
    assert dumps_bytes(data, default=str) == reference(data, default=str)


@pytest.mark.parametrize("data", SAMPLES[:6])
def test_the_same_bytes_as_json_without_default(data):
    assert dumps_bytes(data) == reference(data)


@pytest.mark.parametrize("data", [{"at": datetime.datetime(2026, 1, 1)}, {"point": Point(1)}, object()])
def test_what_json_cannot_encode_without_default_raises_what_json_raises(data):
    with pytest.raises(TypeError):
        reference(data)
    with pytest.raises(TypeError):
        dumps_bytes(data)


def test_a_lone_surrogate_raises_unicode_encode_error_as_the_utf8_encoding_of_json_does():
    with pytest.raises(UnicodeEncodeError):
        dumps_bytes({"text": "\ud800"})


def test_a_float_nan_or_infinity_is_written_null_which_every_json_parser_takes():
    text = dumps_bytes({"not finite": [float("nan"), float("inf"), -float("inf")], "n": 1.5})
    assert text == b'{"not finite":[null,null,null],"n":1.5}'
    assert json.loads(text) == {"not finite": [None, None, None], "n": 1.5}
