"""pgqueue: a PostgreSQL-native job queue. Jobs live in your own database, so you enqueue inside
your own transaction: the job exists if and only if your data committed."""

from pgqueue.client import App
from pgqueue.context import JobContext, current_job
from pgqueue.enqueue import Enqueued
from pgqueue.errors import (
    AuthenticationError,
    ConfigurationError,
    DatabaseError,
    DatabaseNotFoundError,
    DatabaseUnavailableError,
    JobFailedError,
    JobNotFoundError,
    PgQueueError,
    ResultTimeoutError,
    Retry,
    SchemaMissingError,
    SerializationError,
    TaskRegistrationError,
    UnknownTaskError,
)
from pgqueue.job import JobInfo, JobRequest, JobState, Priority
from pgqueue.progress import FinishedEvent, ProgressEvent
from pgqueue.registry import Task
from pgqueue.retry import RetryPolicy, constant
from pgqueue.settings import WorkerSettings
from pgqueue.worker import Worker, WorkerStats

__version__ = "0.1.0"

__all__ = [
    "App",
    "AuthenticationError",
    "ConfigurationError",
    "DatabaseError",
    "DatabaseNotFoundError",
    "DatabaseUnavailableError",
    "Enqueued",
    "FinishedEvent",
    "JobContext",
    "JobFailedError",
    "JobInfo",
    "JobNotFoundError",
    "JobRequest",
    "JobState",
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
    "__version__",
    "constant",
    "current_job",
]
