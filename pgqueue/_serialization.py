"""JSON encoding of arguments and results (orjson: fast and strict; never pickle).

Only JSON types round-trip: dict, list/tuple, str, int, float, bool, None. Datetimes,
dataclasses, NaN and Infinity are refused rather than silently turned into strings or null, so
what a task receives is what was enqueued. Two documented conversions: a UUID is written as its
string and an Enum member as its value (tuples, as in any JSON, come back as lists).
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

from pgqueue.errors import SerializationError

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
# An escaped NUL: "\u0000" preceded by an even number of backslashes (so not the text "\\u0000").
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def dumps(
    value: Any, *, what: str = "value", max_bytes: int | None = None, limit: str = "max_bytes"
) -> str:
    """Encode to a JSON string, or raise SerializationError naming what failed (also when the
    JSON is longer than `max_bytes`, the setting called `limit`: checked on the encoded bytes,
    no second encoding)."""
    try:
        encoded = orjson.dumps(value, option=_OPTIONS)
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        raise SerializationError(f"{what} is not JSON serializable: {exc}") from exc
    if max_bytes is not None and len(encoded) > max_bytes:
        raise SerializationError(
            f"{what} is {len(encoded)} bytes of JSON, more than {limit} ({max_bytes})"
        )
    # orjson writes NaN and Infinity as null; only then is the value walked to refuse them.
    if b"null" in encoded and _has_non_finite(value):
        raise SerializationError(f"{what} is not JSON serializable: NaN and Infinity are not JSON")
    if b"\\u0000" in encoded and _ESCAPED_NUL.search(encoded):
        raise SerializationError(
            f"{what} is not storable: PostgreSQL's jsonb cannot hold the NUL character (\\u0000)"
        )
    return encoded.decode()


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_non_finite(v) for v in value)
    return False


def loads(text: str | bytes | None) -> Any:
    """Decode JSON text from the database; None stays None."""
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise SerializationError(f"stored JSON does not decode: {exc}") from exc
