"""The named ends of an attempt. The executor picks one; the worker writes them in batches.

Each maps to one row of job_complete_many.sql, which applies it only while the job is still
`running` in the attempt that produced it.
"""

from __future__ import annotations

import traceback as tb
from dataclasses import dataclass
from typing import Any

from pgqueue import serialization

SUCCEEDED = "succeeded"
RETRYING = "retrying"
DEAD = "dead"
CANCELLED = "cancelled"
REQUEUED = "requeued"  # interrupted by a worker shutdown: back in the queue, attempt not counted

# What is kept of an error: the text an operator reads, never megabytes of it.
MAX_ERROR_MESSAGE = 4096
MAX_TRACEBACK = 16384


@dataclass(frozen=True, slots=True)
class Outcome:
    job_id: int
    attempt: int
    state: str
    result_json: str | None = None
    error: dict[str, Any] | None = None
    retry_in: float | None = None

    @property
    def error_json(self) -> str | None:
        return None if self.error is None else serialization.dumps(self.error, what="error")


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


def succeeded(job_id: int, attempt: int, result_json: str) -> Outcome:
    return Outcome(job_id, attempt, SUCCEEDED, result_json=result_json)


def retrying(job_id: int, attempt: int, delay: float, error: dict[str, Any]) -> Outcome:
    return Outcome(job_id, attempt, RETRYING, error=error, retry_in=max(0.0, delay))


def dead(job_id: int, attempt: int, error: dict[str, Any]) -> Outcome:
    return Outcome(job_id, attempt, DEAD, error=error)


def cancelled(job_id: int, attempt: int, error: dict[str, Any] | None = None) -> Outcome:
    return Outcome(job_id, attempt, CANCELLED, error=error)


def requeued(job_id: int, attempt: int, error: dict[str, Any]) -> Outcome:
    return Outcome(job_id, attempt, REQUEUED, error=error, retry_in=0.0)
