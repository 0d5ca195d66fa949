"""pgqueue: a PostgreSQL-native job queue. Jobs live in your own database, so you enqueue inside
your own transaction: the job exists if and only if your data committed."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgqueue._client import App
    from pgqueue._context import JobContext, current_job
    from pgqueue._enqueue import Enqueued
    from pgqueue._hooks import EnqueueCall, Instrumentation, JobAttempt
    from pgqueue._job import JobInfo, JobRequest, JobState, Priority
    from pgqueue._progress import FinishedEvent, ProgressEvent
    from pgqueue._registry import Task
    from pgqueue._retry import RetryPolicy, constant
    from pgqueue._worker import Worker, WorkerStats, run_until_signalled
    from pgqueue._workflows import Group, Workflow
    from pgqueue.errors import (
        AuthenticationError,
        ConfigurationError,
        DatabaseError,
        DatabaseNotFoundError,
        DatabaseUnavailableError,
        JobFailedError,
        JobNotFoundError,
        PayloadValidationError,
        PgQueueError,
        ResultTimeoutError,
        Retry,
        SchemaMissingError,
        SerializationError,
        TaskRegistrationError,
        UnknownTaskError,
    )
    from pgqueue.settings import WorkerSettings

__version__ = "0.1.0"

# The public names are imported on first use (PEP 562), not by `import pgqueue`: the `pgqueue`
# command imports this package too, and `pgqueue --version` must not pay for SQLAlchemy and
# asyncpg. `from pgqueue import App` and `pgqueue.App` work as before.
_LAZY = {
    "App": "pgqueue._client",
    "JobContext": "pgqueue._context",
    "current_job": "pgqueue._context",
    "Enqueued": "pgqueue._enqueue",
    "EnqueueCall": "pgqueue._hooks",
    "Instrumentation": "pgqueue._hooks",
    "JobAttempt": "pgqueue._hooks",
    "AuthenticationError": "pgqueue.errors",
    "ConfigurationError": "pgqueue.errors",
    "DatabaseError": "pgqueue.errors",
    "DatabaseNotFoundError": "pgqueue.errors",
    "DatabaseUnavailableError": "pgqueue.errors",
    "JobFailedError": "pgqueue.errors",
    "JobNotFoundError": "pgqueue.errors",
    "PayloadValidationError": "pgqueue.errors",
    "PgQueueError": "pgqueue.errors",
    "ResultTimeoutError": "pgqueue.errors",
    "Retry": "pgqueue.errors",
    "SchemaMissingError": "pgqueue.errors",
    "SerializationError": "pgqueue.errors",
    "TaskRegistrationError": "pgqueue.errors",
    "UnknownTaskError": "pgqueue.errors",
    "JobInfo": "pgqueue._job",
    "JobRequest": "pgqueue._job",
    "JobState": "pgqueue._job",
    "Priority": "pgqueue._job",
    "FinishedEvent": "pgqueue._progress",
    "ProgressEvent": "pgqueue._progress",
    "Task": "pgqueue._registry",
    "RetryPolicy": "pgqueue._retry",
    "constant": "pgqueue._retry",
    "WorkerSettings": "pgqueue.settings",
    "Worker": "pgqueue._worker",
    "WorkerStats": "pgqueue._worker",
    "run_until_signalled": "pgqueue._worker",
    "Group": "pgqueue._workflows",
    "Workflow": "pgqueue._workflows",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:  # a submodule (`pgqueue._worker`), as when this file imported them all
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module 'pgqueue' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "App",
    "AuthenticationError",
    "ConfigurationError",
    "DatabaseError",
    "DatabaseNotFoundError",
    "DatabaseUnavailableError",
    "EnqueueCall",
    "Enqueued",
    "FinishedEvent",
    "Group",
    "Instrumentation",
    "JobAttempt",
    "JobContext",
    "JobFailedError",
    "JobInfo",
    "JobNotFoundError",
    "JobRequest",
    "JobState",
    "PayloadValidationError",
    "PgQueueError",
    "Priority",
    "ProgressEvent",
    "ResultTimeoutError",
    "Retry",
    "RetryPolicy",
    "SchemaMissingError",
    "SerializationError",
    "Task",
    "TaskRegistrationError",
    "UnknownTaskError",
    "Worker",
    "WorkerSettings",
    "WorkerStats",
    "Workflow",
    "__version__",
    "constant",
    "current_job",
    "run_until_signalled",
]
