"""Run one claimed job and decide its outcome. The only place that maps what happened
(return, exception, Retry, timeout, cancellation, bad input) to a state change.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from pgqueue import outcome, payloads, serialization
from pgqueue.context import JobContext, ProgressSink, reset_current, set_current
from pgqueue.errors import Retry, SerializationError
from pgqueue.job import ClaimedJob
from pgqueue.outcome import Outcome, error_info
from pgqueue.registry import Task, TaskRegistry
from pgqueue.retry import retry_delay_problem
from pgqueue.threads import SyncThreads

logger = logging.getLogger("pgqueue.job")

SHUTDOWN = "shutdown"
CANCEL_REQUESTED = "cancel"
# The database handed this worker a newer attempt of the same job (it had been declared lost
# and the job rescued): the older attempt ends with no outcome of its own.
SUPERSEDED = "superseded"


@dataclass(slots=True)
class JobControl:
    """Why the worker cancelled a running job, read when the cancellation lands."""

    cancel_reason: str | None = None


class _BadPayloadError(Exception):
    pass


class _DeadlineError(Exception):
    """The task's own timeout expired (as opposed to a TimeoutError the task raised itself)."""


async def _within(awaitable: Awaitable[Any], timeout: float | None) -> Any:
    if timeout is None:
        return await awaitable
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            return await awaitable
    except TimeoutError as exc:
        if deadline.expired():
            raise _DeadlineError(f"timed out after {timeout}s") from exc
        raise


class JobRunner:
    """Runs jobs of one registry. Sync tasks run in `thread_pool`, never on the event loop."""

    def __init__(
        self,
        registry: TaskRegistry,
        *,
        thread_pool: SyncThreads | None,
        default_max_attempts: int,
        progress_sink: ProgressSink | None = None,
        max_result_bytes: int | None = None,
    ) -> None:
        self.registry = registry
        self.thread_pool = thread_pool
        self.default_max_attempts = default_max_attempts
        self.progress_sink = progress_sink
        self.max_result_bytes = max_result_bytes

    async def run(self, job: ClaimedJob, control: JobControl) -> Outcome:
        attempt = job.attempts
        log = logging.LoggerAdapter(
            logger, {"job_id": job.id, "task": job.task, "queue": job.queue, "attempt": attempt}
        )
        task = self.registry.get(job.task)
        if task is None:
            log.error("unknown task %r: dead-lettered", job.task)
            return outcome.dead(
                job.id,
                attempt,
                error_info(
                    "unknown_task",
                    attempt,
                    message=f"no task named {job.task!r} is registered in this worker",
                ),
            )
        max_attempts = job.max_attempts or task.config.max_attempts or self.default_max_attempts
        if attempt > max_attempts:
            # Only a rescue can get here: the job's worker died during its last allowed attempt
            # and the rescuer could not resolve a NULL max_attempts to this task's default.
            log.error(
                "attempts used up (%d/%d) after a lost worker: dead-lettered",
                attempt - 1,
                max_attempts,
            )
            return outcome.dead(
                job.id,
                attempt,
                error_info(
                    "worker_lost",
                    attempt,
                    message=(
                        f"attempts used up ({attempt - 1}/{max_attempts}): the worker running the "
                        "last attempt was lost; not run again"
                    ),
                ),
            )
        try:
            args, kwargs = _decode_payload(job, task)
        except _BadPayloadError as exc:
            log.error("bad payload: %s: dead-lettered", exc)
            return outcome.dead(job.id, attempt, error_info("payload", attempt, message=str(exc)))

        ctx = JobContext(job.id, job.task, job.queue, attempt, max_attempts, self.progress_sink)
        log.debug("started")
        try:
            result = await self._call(task, args, kwargs, ctx)
        except asyncio.CancelledError as exc:
            if control.cancel_reason == SHUTDOWN:
                log.warning("interrupted by worker shutdown: back to the queue")
                return outcome.requeued(
                    job.id,
                    attempt,
                    error_info("shutdown", attempt, exc, "interrupted by worker shutdown"),
                )
            if control.cancel_reason == CANCEL_REQUESTED:
                log.info("cancelled on request")
                return outcome.cancelled(
                    job.id,
                    attempt,
                    error_info("cancelled", attempt, exc, "cancelled on request while running"),
                )
            raise
        except _DeadlineError as exc:
            cause = exc.__cause__ or exc  # stored as the TimeoutError the deadline raised
            return self._failed(job, task, attempt, max_attempts, "timeout", cause, str(exc), log)
        except Retry as exc:
            return self._failed(
                job, task, attempt, max_attempts, "retry", exc, None, log, delay=exc.delay
            )
        except (Exception, KeyboardInterrupt, SystemExit) as exc:
            # SystemExit/KeyboardInterrupt from task code are failures of that job, not of the
            # worker: caught here, before asyncio would re-raise them out of the event loop.
            return self._failed(job, task, attempt, max_attempts, "exception", exc, None, log)

        try:
            # Its length is checked on the bytes the encoding produced anyway: no second pass.
            result_json = serialization.dumps(
                payloads.dump_result(task.fn, result),
                what=f"result of {job.task}",
                max_bytes=self.max_result_bytes,
                limit="max_result_bytes",
            )
        except SerializationError as exc:
            log.error("%s: dead-lettered", exc)
            return outcome.dead(job.id, attempt, error_info("result", attempt, exc))
        log.debug("succeeded")
        return outcome.succeeded(job.id, attempt, result_json)

    async def _call(
        self, task: Task[Any, Any], args: list[Any], kwargs: dict[str, Any], ctx: JobContext
    ) -> Any:
        timeout = task.config.timeout
        if task.is_async:
            token = set_current(ctx)
            try:
                return await _within(task.fn(*args, **kwargs), timeout)
            finally:
                reset_current(token)
        # A thread cannot be killed: at the deadline the attempt is recorded as timed out and
        # the thread runs on to its end in the background, its result discarded (docs/tasks.md);
        # the pool replaces that thread at once, so the next sync jobs do not wait for it.
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        context.run(set_current, ctx)
        started = asyncio.Event()

        def call() -> Any:
            loop.call_soon_threadsafe(started.set)
            return context.run(task.fn, *args, **kwargs)

        if self.thread_pool is None:
            return await _within(loop.run_in_executor(None, call), timeout)
        submitted = self.thread_pool.submit(call)
        future = asyncio.wrap_future(submitted)
        try:
            if timeout is not None:
                # The clock starts when a thread picks the job up: the timeout bounds the task's
                # own run time, not the wait for a thread (kept short by replacing the threads
                # of given-up attempts).
                waiter = asyncio.ensure_future(started.wait())
                try:
                    await asyncio.wait({waiter, future}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
            return await _within(future, timeout)
        finally:
            if not submitted.done():  # timed out or cancelled: nothing waits for it any more
                self.thread_pool.give_up(submitted)

    def _failed(
        self,
        job: ClaimedJob,
        task: Task[Any, Any],
        attempt: int,
        max_attempts: int,
        kind: str,
        exc: BaseException,
        message: str | None,
        log: logging.LoggerAdapter[logging.Logger],
        delay: float | None = None,
    ) -> Outcome:
        error = error_info(kind, attempt, exc, message)
        problem = None if delay is None else retry_delay_problem(delay)
        if problem is not None:
            # Validated here, before the outcome is buffered: a delay the database cannot store
            # would make it refuse the whole batch of outcomes this one is written with.
            message = f"Retry(delay={delay!r}) refused: {problem}"
            log.error("%s: dead-lettered", message)
            return outcome.dead(job.id, attempt, error_info("invalid_retry", attempt, exc, message))
        if attempt >= max_attempts:
            log.error(
                "failed (%s: %s); attempts used up (%d/%d): dead-lettered",
                error["type"],
                error["message"],
                attempt,
                max_attempts,
            )
            return outcome.dead(job.id, attempt, error)
        wait = delay if delay is not None else task.config.retry.delay(attempt)
        log.warning(
            "failed (%s: %s); retry %d/%d in %.2fs",
            error["type"],
            error["message"],
            attempt + 1,
            max_attempts,
            wait,
        )
        return outcome.retrying(job.id, attempt, wait, error)


def _decode_payload(job: ClaimedJob, task: Task[Any, Any]) -> tuple[list[Any], dict[str, Any]]:
    try:
        args = serialization.loads(job.args)
        kwargs = serialization.loads(job.kwargs)
    except SerializationError as exc:
        raise _BadPayloadError(str(exc)) from exc
    if not isinstance(args, list):
        raise _BadPayloadError(
            f"args must be a JSON array, got {type(args).__name__}: {job.args[:200]}"
        )
    if not isinstance(kwargs, dict):
        raise _BadPayloadError(
            f"kwargs must be a JSON object, got {type(kwargs).__name__}: {job.kwargs[:200]}"
        )
    try:
        args, kwargs = payloads.rebuild_arguments(task.fn, args, kwargs)  # typed payloads
    except TypeError as exc:
        raise _BadPayloadError(f"arguments do not fit {task.name}{task.signature}: {exc}") from exc
    return args, kwargs
