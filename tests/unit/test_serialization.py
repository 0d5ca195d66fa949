"""JSON encoding of arguments and results: JSON types round-trip exactly; anything else is refused
with SerializationError (a TypeError), never silently converted."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import math
import uuid
from typing import Any

import pytest

from pgqueue import _serialization as serialization
from pgqueue.errors import PgQueueError, SerializationError


@dataclasses.dataclass
class Point:
    x: int
    y: int


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 2, 3, 4, 5),
        dt.date(2026, 1, 2),
        dt.time(3, 4),
        [1, {"when": dt.datetime(2026, 1, 2, tzinfo=dt.UTC)}],
        Point(1, 2),
        {1, 2},
        b"bytes",
        decimal.Decimal("1.5"),
        object(),
        {1: "non-string key"},
        2**64,
    ],
    ids=[
        "aware-datetime",
        "naive-datetime",
        "date",
        "time",
        "nested-datetime",
        "dataclass",
        "set",
        "bytes",
        "decimal",
        "object",
        "int-key",
        "int-over-64-bit",
    ],
)
def test_non_json_values_are_refused(value: Any) -> None:
    with pytest.raises(SerializationError) as caught:
        serialization.dumps(value, what="arguments of t")
    assert isinstance(caught.value, TypeError)
    assert isinstance(caught.value, PgQueueError)
    assert str(caught.value).startswith("arguments of t is not JSON serializable: ")
    assert caught.value.__cause__ is not None


def test_a_datetime_can_be_caught_as_a_plain_type_error() -> None:
    with pytest.raises(TypeError):
        serialization.dumps({"at": dt.datetime.now(dt.UTC)})


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -(2**63),
        2**63 - 1,
        1.5,
        -0.25,
        "",
        "héllo wörld ✓ 🎉",
        'line\nbreak "quotes" \\ back\tslash',
        [],
        {},
        [1, "two", 3.0, None, [True, {"deep": [{"er": []}]}]],
        {"a": {"b": {"c": [1, 2, 3]}}, "unicode ключ": "значение"},
    ],
)
def test_json_values_round_trip_exactly(value: Any) -> None:
    text = serialization.dumps(value)
    assert isinstance(text, str)
    back = serialization.loads(text)
    assert back == value
    assert type(back) is type(value)


def test_tuples_come_back_as_lists() -> None:
    assert serialization.loads(serialization.dumps((1, (2, 3)))) == [1, [2, 3]]


def test_loads_accepts_bytes_and_none() -> None:
    assert serialization.loads(b'{"a": [1]}') == {"a": [1]}
    assert serialization.loads(None) is None
    assert serialization.loads("null") is None


@pytest.mark.parametrize("text", ["not json", "{", "[1,]", "", "NaN"])
def test_undecodable_text_raises_serialization_error(text: str) -> None:
    with pytest.raises(SerializationError, match="does not decode"):
        serialization.loads(text)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(float("nan"), id="nan"),
        pytest.param([1.0, math.inf], id="inf"),
        pytest.param({"a": [None, -math.inf]}, id="nested-inf-beside-null"),
    ],
)
def test_values_that_would_not_round_trip_are_refused(value: Any) -> None:
    with pytest.raises(SerializationError, match="NaN and Infinity"):
        serialization.dumps(value)


def test_documented_conversions_uuid_to_string() -> None:
    value = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert serialization.loads(serialization.dumps([value])) == [str(value)]


def test_nul_characters_are_refused_before_reaching_postgres() -> None:
    with pytest.raises(SerializationError, match="NUL"):
        serialization.dumps(["a\x00b"])
    assert serialization.loads(serialization.dumps(["a\\u0000b"])) == ["a\\u0000b"]
