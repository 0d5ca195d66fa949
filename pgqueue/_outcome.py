"""What is stored of a failed or interrupted attempt: its kind, exception, message and traceback,
bounded and made storable. The transitions that carry it are in pgqueue/_transitions.py.
"""

from __future__ import annotations

import traceback as tb
from typing import Any

# What is kept of an error: the text an operator reads, never megabytes of it.
MAX_ERROR_MESSAGE = 4096
MAX_TRACEBACK = 16384


def _storable(text: str, limit: int) -> str:
    """Text jsonb can hold, at most `limit` characters: a NUL or a lone surrogate (from any
    exception's message) escaped, as an unstorable error must never block the outcome that
    carries it; an overlong text cut in the middle (its start and its end say the most)."""
    text = bounded(text, limit)
    escaped = text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
    return escaped if len(escaped) <= limit else bounded(escaped, limit)


def bounded(text: str, limit: int) -> str:
    """`text` if it has at most `limit` characters, else its start and its end around a
    marker saying how much was cut, `limit` characters in all."""
    if len(text) <= limit:
        return text
    longest = len(f" [... {len(text)} characters cut ...] ")
    keep = max(0, limit - longest)
    head = keep // 2
    marker = f" [... {len(text) - keep} characters cut ...] "
    return f"{text[:head]}{marker}{text[len(text) - (keep - head) :]}"


def _describe(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # an exception whose __str__ itself fails must still be recorded
        return f"<{type(exc).__name__}: str() failed>"


def error_info(
    kind: str, attempt: int, exc: BaseException | None = None, message: str | None = None
) -> dict[str, Any]:
    """What is stored of a failed attempt: kind, exception class, message and traceback."""
    info: dict[str, Any] = {"attempt": attempt, "kind": kind}
    if exc is not None:
        info["type"] = f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")
        info["message"] = _storable(
            message if message is not None else _describe(exc), MAX_ERROR_MESSAGE
        )
        info["traceback"] = _storable("".join(tb.format_exception(exc)), MAX_TRACEBACK)
    else:
        info["type"] = kind
        info["message"] = _storable(message or kind, MAX_ERROR_MESSAGE)
        info["traceback"] = None
    return info
