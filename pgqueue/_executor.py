"""Run one claimed job and decide its transition. The only place that maps what happened
(return, exception, Retry, timeout, cancellation, bad input) to a state change: one `match` in
`JobRunner._transition`; the transitions themselves are named in pgqueue/_transitions.py.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from pgqueue import _payloads as payloads
from pgqueue import _serialization as serialization
from pgqueue import _transitions as transitions
from pgqueue._context import JobContext, ParentResults, ProgressSink, reset_current, set_current
from pgqueue._hooks import Hooks, JobAttempt
from pgqueue._job import ClaimedJob
from pgqueue._outcome import error_info
from pgqueue._registry import Task, TaskRegistry
from pgqueue._retry import retry_delay_problem
from pgqueue._threads import SyncThreads
from pgqueue._transitions import Transition
from pgqueue.errors import Retry, SerializationError

logger = logging.getLogger("pgqueue.job")

SHUTDOWN = "shutdown"
CANCEL_REQUESTED = "cancel"
# The database handed this worker a newer attempt of the same job (it had been declared lost
# and the job rescued): the older attempt ends with no outcome of its own.
SUPERSEDED = "superseded"
# What a task that returns None stores as its result.
_NULL = "null"


@dataclass(slots=True)
class JobControl:
    """Why the worker cancelled a running job, read when the cancellation lands."""

    cancel_reason: str | None = None


class _BadPayloadError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Refused:
    """The attempt could not start (unknown task, bad payload, attempts used up): dead at once."""

    kind: str
    message: str  # stored in the job's errors
    logged: str  # what the log line says


@dataclass(frozen=True, slots=True)
class _Returned:
    value: Any


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
        hooks: Hooks | None = None,
        parent_results: ParentResults | None = None,
    ) -> None:
        self.registry = registry
        self.hooks = hooks or Hooks()  # instrumentation around each attempt (pgqueue._hooks)
        self.thread_pool = thread_pool
        self.default_max_attempts = default_max_attempts
        self.progress_sink = progress_sink
        self.max_result_bytes = max_result_bytes
        self.parent_results = parent_results

    async def run(self, job: ClaimedJob, control: JobControl) -> Transition:
        log = logging.LoggerAdapter(
            logger,
            {"job_id": job.id, "task": job.task, "queue": job.queue, "attempt": job.attempts},
        )
        task = self.registry.get(job.task)
        max_attempts = self._max_attempts(job, task)
        with self.hooks.attempt(job, max_attempts) as attempt:
            try:
                happened = await self._attempt(job, task, max_attempts, log)
                transition = self._transition(job, task, max_attempts, control, happened, log)
            except asyncio.CancelledError as exc:  # superseded (or cancelled with no reason)
                if attempt is not None:
                    superseded = control.cancel_reason == SUPERSEDED
                    attempt.end(SUPERSEDED if superseded else "interrupted", exc)
                raise
            except Exception as exc:  # a runner bug: the worker dead-letters the job
                if attempt is not None:
                    attempt.end("dead", exc, error_kind="internal", error_message=str(exc))
                raise
            if attempt is not None:
                _report(attempt, transition, happened)
            return transition

    def _max_attempts(self, job: ClaimedJob, task: Task[Any, Any] | None) -> int:
        configured = None if task is None else task.config.max_attempts
        return job.max_attempts or configured or self.default_max_attempts

    async def _attempt(
        self,
        job: ClaimedJob,
        task: Task[Any, Any] | None,
        max_attempts: int,
        log: logging.LoggerAdapter[logging.Logger],
    ) -> _Refused | _Returned | BaseException:
        """Run the attempt, or say why it cannot run. What it raised is returned, not raised, so
        that `_transition` maps every ending in one place."""
        attempt = job.attempts
        if task is None:
            return _Refused(
                "unknown_task",
                f"no task named {job.task!r} is registered in this worker",
                f"unknown task {job.task!r}",
            )
        if attempt > max_attempts:
            # Only a rescue can get here: the job's worker died during its last allowed attempt
            # and the rescuer could not resolve a NULL max_attempts to this task's default.
            return _Refused(
                "worker_lost",
                f"attempts used up ({attempt - 1}/{max_attempts}): the worker running the "
                "last attempt was lost; not run again",
                f"attempts used up ({attempt - 1}/{max_attempts}) after a lost worker",
            )
        try:
            args, kwargs = _decode_payload(job, task)
        except _BadPayloadError as exc:
            return _Refused("payload", str(exc), f"bad payload: {exc}")
        ctx = JobContext(
            job.id,
            job.task,
            job.queue,
            attempt,
            max_attempts,
            self.progress_sink,
            asyncio.get_running_loop(),
            _parent_results=self.parent_results,
        )
        log.debug("started")
        try:
            return _Returned(await self._call(task, args, kwargs, ctx))
        except (Exception, KeyboardInterrupt, SystemExit, asyncio.CancelledError) as exc:
            # SystemExit/KeyboardInterrupt from task code are failures of that job, not of the
            # worker: caught here, before asyncio would re-raise them out of the event loop.
            return exc

    def _transition(
        self,
        job: ClaimedJob,
        task: Task[Any, Any] | None,
        max_attempts: int,
        control: JobControl,
        happened: _Refused | _Returned | BaseException,
        log: logging.LoggerAdapter[logging.Logger],
    ) -> Transition:
        """The one map from how an attempt ended to the transition that records it."""
        attempt = job.attempts
        match happened:
            case _Refused(kind=kind, message=message, logged=logged):
                log.error("%s: dead-lettered", logged)
                return transitions.dead(job.id, attempt, error_info(kind, attempt, message=message))
            case _Returned(value=value):
                return self._returned(job, task, value, log)
            case asyncio.CancelledError() if control.cancel_reason == SHUTDOWN:
                log.warning("interrupted by worker shutdown: back to the queue")
                error = error_info("shutdown", attempt, happened, "interrupted by worker shutdown")
                return transitions.interrupted(job.id, attempt, error)
            case asyncio.CancelledError() if control.cancel_reason == CANCEL_REQUESTED:
                log.info("cancelled on request")
                message = "cancelled on request while running"
                return transitions.cancelled(
                    job.id, attempt, error_info("cancelled", attempt, happened, message)
                )
            case asyncio.CancelledError():
                raise happened
            case _DeadlineError():
                cause = happened.__cause__ or happened  # stored as the TimeoutError it raised
                return self._failed(job, task, max_attempts, "timeout", cause, str(happened), log)
            case Retry() if (problem := _delay_problem(happened)) is not None:
                return _invalid_retry(job, happened, problem, log)
            case Retry(delay=delay):
                return self._failed(job, task, max_attempts, "retry", happened, None, log, delay)
            case _:
                return self._failed(job, task, max_attempts, "exception", happened, None, log)

    def _returned(
        self,
        job: ClaimedJob,
        task: Task[Any, Any] | None,
        value: Any,
        log: logging.LoggerAdapter[logging.Logger],
    ) -> Transition:
        limit = self.max_result_bytes
        if value is None and (limit is None or limit >= len(_NULL)):
            result_json = _NULL  # most tasks return nothing: no encoding pass for it
        else:
            try:
                # Its length is checked on the bytes the encoding produced anyway: no second pass.
                result_json = serialization.dumps(
                    value if task is None else payloads.dump_result(task.fn, value),
                    what=f"result of {job.task}",
                    max_bytes=limit,
                    limit="max_result_bytes",
                )
            except SerializationError as exc:
                log.error("%s: dead-lettered", exc)
                error = error_info("result", job.attempts, exc)
                return transitions.dead(job.id, job.attempts, error)
        log.debug("succeeded")
        return transitions.succeeded(job.id, job.attempts, result_json)

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
        task: Task[Any, Any] | None,
        max_attempts: int,
        kind: str,
        exc: BaseException,
        message: str | None,
        log: logging.LoggerAdapter[logging.Logger],
        delay: float | None = None,
    ) -> Transition:
        attempt = job.attempts
        error = error_info(kind, attempt, exc, message)
        if attempt >= max_attempts or task is None:
            log.error(
                "failed (%s: %s); attempts used up (%d/%d): dead-lettered",
                error["type"],
                error["message"],
                attempt,
                max_attempts,
            )
            return transitions.dead(job.id, attempt, error)
        wait = delay if delay is not None else task.config.retry.delay(attempt)
        log.warning(
            "failed (%s: %s); retry %d/%d in %.2fs",
            error["type"],
            error["message"],
            attempt + 1,
            max_attempts,
            wait,
        )
        return transitions.retry(job.id, attempt, wait, error)


def _report(
    attempt: JobAttempt, transition: Transition, happened: _Refused | _Returned | BaseException
) -> None:
    """Tell the instrumentation how the attempt ended: the transition's name, and what the task
    raised (a timeout as the TimeoutError it raised)."""
    error = None
    if isinstance(happened, _DeadlineError):
        error = happened.__cause__ or happened
    elif isinstance(happened, BaseException):
        error = happened
    stored = transition.error or {}
    attempt.end(
        transition.name.value,
        error,
        error_kind=stored.get("kind"),
        error_message=stored.get("message"),
        retry_in=transition.run_in if transition.name is transitions.Name.RETRY else None,
    )


def _delay_problem(exc: Retry) -> str | None:
    """Why the delay a task's Retry asks for cannot be stored; None if it can (or asks none)."""
    return None if exc.delay is None else retry_delay_problem(exc.delay)


def _invalid_retry(
    job: ClaimedJob, exc: Retry, problem: str, log: logging.LoggerAdapter[logging.Logger]
) -> Transition:
    """Dead at once: a delay the database cannot store, refused before the outcome is buffered
    (it would make the database refuse the whole batch of outcomes this one is written with)."""
    message = f"Retry(delay={exc.delay!r}) refused: {problem}"
    log.error("%s: dead-lettered", message)
    error = error_info("invalid_retry", job.attempts, exc, message)
    return transitions.dead(job.id, job.attempts, error)


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
