"""Log formatters for the CLI. The library itself only logs through `pgqueue.*` loggers with
job_id, task, queue and attempt attached as record attributes; it never configures logging."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from pgqueue._context import current_job

_CONTEXT = ("job_id", "task", "queue", "attempt", "worker_id")
_STANDARD = set(vars(logging.makeLogRecord({})))


class TextFormatter(logging.Formatter):
    """`time level logger message [job_id=.. task=.. ...]`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(f"{k}={getattr(record, k)}" for k in _CONTEXT if hasattr(record, k))
        return f"{line} [{context}]" if context else line


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with every extra attribute (job_id, task, queue, attempt...)."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(payload, default=str).decode()


class JobContextFilter(logging.Filter):
    """Adds job_id, task, queue and attempt of the running job to records that lack them, so a
    task's own log lines (any logger) carry the job they belong to. The CLI installs it on its
    handler; applications with their own logging setup can add it to theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "job_id"):
            try:
                job = current_job()
            except LookupError:
                return True
            for key, value in job.log_extra().items():
                setattr(record, key, value)
        return True
