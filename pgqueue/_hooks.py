"""Instrumentation hooks: the two places an observability integration plugs into, in terms of
pgqueue's own values, so the core never imports one (pgqueue.contrib.otel is the OpenTelemetry
one; docs/tracing.md).

- `Instrumentation.enqueue(call)` is entered around every enqueue call of an App (`task.enqueue`,
  `app.enqueue_many`, the `connection=` paths, sync and async): on entry it may add keys to
  `call.metadata`, which every job of the call carries in `jobs.metadata` (under the job's own
  keys); `call.ids` holds the ids written when it exits.
- `Instrumentation.attempt(attempt)` is entered around every attempt a worker runs, in the job's
  own asyncio task (a sync task's thread runs in a copy of that context): on exit
  `attempt.outcome` says how the attempt ended, `attempt.error` what it raised.

A hook that raises is logged and skipped: instrumentation never loses a job or an enqueue.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pgqueue import _serialization as serialization
from pgqueue._job import ClaimedJob, JobRequest
from pgqueue.errors import SerializationError

logger = logging.getLogger("pgqueue")

# The key job_rescue.sql writes into a job's metadata: the number of the attempt that was lost
# with its worker (keys starting with "pgqueue." are pgqueue's own).
LOST_ATTEMPT = "pgqueue.lost_attempt"

# How an attempt ended (JobAttempt.outcome): the transitions' names (pgqueue/_transitions.py),
# and "superseded", an older attempt given up because the job was rescued and claimed again.
OUTCOMES = ("succeeded", "retry", "dead", "cancelled", "interrupted", "superseded")


@dataclass(slots=True)
class EnqueueCall:
    """One enqueue call as an Instrumentation sees it: the jobs as given, the metadata the hooks
    add for all of them (on entry), and their ids once written (before the hooks exit)."""

    jobs: Sequence[JobRequest]
    metadata: dict[str, Any] = field(default_factory=dict)
    ids: list[int] = field(default_factory=list)

    def stamped(self) -> Sequence[JobRequest]:
        """The jobs to write: each with the hooks' metadata under its own."""
        if not self.metadata:
            return self.jobs
        return [
            replace(job, metadata={**self.metadata, **(job.metadata or {})}) for job in self.jobs
        ]


@dataclass(slots=True)
class JobAttempt:
    """One attempt of one job as an Instrumentation sees it. The outcome fields are set when the
    attempt ends, before the hooks exit."""

    job_id: int
    task: str
    queue: str
    attempt: int  # 1 for the first
    max_attempts: int
    enqueued_at: datetime
    metadata: Mapping[str, Any]  # the job's jobs.metadata
    outcome: str | None = None  # one of OUTCOMES
    error: BaseException | None = None  # what the task raised, if it raised
    error_kind: str | None = None  # the kind stored in the job's errors: exception, timeout, ...
    error_message: str | None = None
    retry_in: float | None = None  # seconds until the next attempt (outcome "retry")

    @property
    def rescued(self) -> bool:
        """The attempt before this one was lost with its worker, and the job rescued."""
        return bool(self.attempt > 1 and self.metadata.get(LOST_ATTEMPT) == self.attempt - 1)

    def end(
        self,
        outcome: str,
        error: BaseException | None = None,
        *,
        error_kind: str | None = None,
        error_message: str | None = None,
        retry_in: float | None = None,
    ) -> None:
        self.outcome = outcome
        self.error = error
        self.error_kind = error_kind
        self.error_message = error_message
        self.retry_in = retry_in


class Instrumentation:
    """Override either method with a context manager; the defaults do nothing."""

    def enqueue(self, call: EnqueueCall) -> AbstractContextManager[object]:
        return contextlib.nullcontext()

    def attempt(self, attempt: JobAttempt) -> AbstractContextManager[object]:
        return contextlib.nullcontext()


class Hooks:
    """The instrumentations of one App, entered in the order they were added."""

    def __init__(self) -> None:
        self.instrumentations: list[Instrumentation] = []

    def add(self, instrumentation: Instrumentation) -> None:
        self.instrumentations.append(instrumentation)

    def __bool__(self) -> bool:
        return bool(self.instrumentations)

    @contextlib.contextmanager
    def enqueue(self, jobs: Sequence[JobRequest]) -> Iterator[EnqueueCall]:
        call = EnqueueCall(jobs)
        with contextlib.ExitStack() as stack:
            for instrumentation in self.instrumentations:
                stack.enter_context(_guarded(instrumentation.enqueue, call))
            yield call

    def attempt(
        self, job: ClaimedJob, max_attempts: int
    ) -> AbstractContextManager[JobAttempt | None]:
        """Entered around one attempt; yields its JobAttempt, or None when nothing listens (the
        job's metadata is then never decoded)."""
        if not self.instrumentations:
            return contextlib.nullcontext()
        return self._attempt(job, max_attempts)

    @contextlib.contextmanager
    def _attempt(self, job: ClaimedJob, max_attempts: int) -> Iterator[JobAttempt]:
        attempt = JobAttempt(
            job.id,
            job.task,
            job.queue,
            job.attempts,
            max_attempts,
            job.enqueued_at,
            _metadata(job),
        )
        with contextlib.ExitStack() as stack:
            for instrumentation in self.instrumentations:
                stack.enter_context(_guarded(instrumentation.attempt, attempt))
            yield attempt


def _metadata(job: ClaimedJob) -> Mapping[str, Any]:
    try:
        value = serialization.loads(job.metadata)
    except SerializationError:
        return {}
    return value if isinstance(value, dict) else {}


@contextlib.contextmanager
def _guarded(hook: Any, value: Any) -> Iterator[None]:
    """`hook(value)` entered and exited; whatever it raises is logged, never passed on, and it
    cannot swallow what the body raises."""
    try:
        manager = hook(value)
        manager.__enter__()
    except Exception:
        logger.exception("instrumentation hook %r failed on entry: skipped", hook)
        yield
        return
    try:
        yield
    except BaseException as exc:
        _exit(manager, hook, exc)
        raise
    _exit(manager, hook, None)


def _exit(manager: Any, hook: Any, exc: BaseException | None) -> None:
    try:
        manager.__exit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)
    except Exception:
        logger.exception("instrumentation hook %r failed on exit", hook)
