"""The limits on the names a job carries: task name, queue name, unique key, limit key.

The same limits hold on every path: here for Python (JobOptions, TaskConfig, JobRequest,
WorkerSettings), in pgqueue.enqueue_many for SQL, and as CHECK constraints on pgqueue.jobs for a
raw INSERT (migration 0004_hardening). Lengths are in bytes of UTF-8 because that is what the
database stores and what a NOTIFY payload (at most 8000 bytes) counts: a queue name travels as
the payload of `pgqueue_jobs`, so bounding it here bounds every notification that carries one.
Control characters (Unicode category Cc: U+0000-U+001F, U+007F-U+009F) are refused so that
names print on one line in logs, the CLI and metrics labels.
"""

from __future__ import annotations

import functools
import unicodedata

TASK_NAME_MAX_BYTES = 200
QUEUE_NAME_MAX_BYTES = 200
UNIQUE_KEY_MAX_BYTES = 1000
LIMIT_KEY_MAX_BYTES = 1000

_PREVIEW = 40


def name_problem(what: str, value: object, limit: int) -> str | None:
    """Why `value` cannot be used as `what` (one line naming the field and the limit), or None.
    Emptiness is the caller's to check: each has its own long-standing message for it."""
    if not isinstance(value, str):
        return f"{what} must be text, got {type(value).__name__}"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        return (
            f"{what} {_preview(value)} is not valid Unicode text "
            f"(a lone surrogate at position {exc.start}): it cannot be stored"
        )
    if size > limit:
        return f"{what} {_preview(value)} is {size} bytes long: the limit is {limit} bytes (UTF-8)"
    for position, char in enumerate(value):
        if unicodedata.category(char) == "Cc":
            return (
                f"{what} {_preview(value)} has a control character (U+{ord(char):04X}) at "
                f"position {position}: names must be printable, without control characters"
            )
    return None


# Task and queue names repeat (one per task, a few queues) and every enqueue checks them, a
# character at a time: remembered, a name costs one lookup (a tenth of a single enqueue's own
# Python work went to these checks, docs/benchmarks.md). Unique keys rarely repeat: not kept.
@functools.lru_cache(maxsize=4096)
def _text_name_problem(what: str, value: str, limit: int) -> str | None:
    return name_problem(what, value, limit)


def task_name_problem(value: object) -> str | None:
    if type(value) is str:
        return _text_name_problem("task name", value, TASK_NAME_MAX_BYTES)
    return name_problem("task name", value, TASK_NAME_MAX_BYTES)


def queue_name_problem(value: object) -> str | None:
    if type(value) is str:
        return _text_name_problem("queue name", value, QUEUE_NAME_MAX_BYTES)
    return name_problem("queue name", value, QUEUE_NAME_MAX_BYTES)


def unique_key_problem(value: object) -> str | None:
    return name_problem("unique_key", value, UNIQUE_KEY_MAX_BYTES)


def limit_key_problem(value: object) -> str | None:
    return name_problem("limit_key", value, LIMIT_KEY_MAX_BYTES)


def _preview(value: str) -> str:
    """The start of a value for an error message: enough to recognise it, never kilobytes."""
    return repr(value[:_PREVIEW]) + ("…" if len(value) > _PREVIEW else "")
