"""JSON encoding of arguments and results (orjson: fast and strict; never pickle).

Only JSON types round-trip: dict, list/tuple, str, int, float, bool, None. Datetimes and
dataclasses are refused rather than silently turned into strings, so what a task receives is
exactly what was enqueued.
"""

from __future__ import annotations

from typing import Any

import orjson

from pgqueue.errors import SerializationError

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps(value: Any, *, what: str = "value") -> str:
    """Encode to a JSON string, or raise SerializationError naming what failed."""
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        raise SerializationError(f"{what} is not JSON serializable: {exc}") from exc


def loads(text: str | bytes | None) -> Any:
    """Decode JSON text from the database; None stays None."""
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise SerializationError(f"stored JSON does not decode: {exc}") from exc
