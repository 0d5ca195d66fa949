"""perform(): run a task's function as a worker would, without a database.

Arguments and the result make the same JSON round trip as through the jobs table, the arguments
are checked against the signature as at enqueue, `current_job()` is set, the task's timeout
applies, and a result the worker would refuse (not JSON, over `max_result_bytes`) raises the
worker's own SerializationError. What differs from a worker is only what needs the table: no
retries, no row, progress recorded in memory instead of written.
"""

from __future__ import annotations

import asyncio
import contextvars
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar, cast

from pgqueue import _serialization as serialization
from pgqueue._context import JobContext, reset_current, set_current
from pgqueue._enqueue import encode_jobs
from pgqueue._registry import Task
from pgqueue.settings import WorkerSettings

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_MAX_ATTEMPTS = 3  # App's default_max_attempts
_MAX_RESULT_BYTES = WorkerSettings().max_result_bytes  # the worker's default limit


@dataclass(frozen=True, slots=True)
class ProgressReport:
    """One `current_job().progress(...)` call a performed task made."""

    value: float | None
    message: str | None


@dataclass(slots=True)
class Performer:
    """Runs tasks as attempt `attempt` of job `job_id`; `progress` collects their reports.

    `perform(task, ...)` is `Performer().perform(task, ...)`; make a Performer to set the attempt
    (`Performer(attempt=3)` runs a task's last attempt of three) or to read its progress."""

    attempt: int = 1
    max_attempts: int | None = None  # None: the task's own, else the App default (3)
    job_id: int = 1
    max_result_bytes: int = _MAX_RESULT_BYTES
    progress: list[ProgressReport] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.attempt < 1:
            raise ValueError("attempt must be at least 1")
        if self.max_attempts is not None and self.max_attempts < self.attempt:
            raise ValueError("max_attempts must be at least the attempt number")

    async def perform(self, task: Task[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """The task's result, as `app.result()` would return it; raises what the task raised."""
        request = task.job(*args, **kwargs)  # the signature check of enqueue
        [stored] = serialization.loads(encode_jobs([request]))  # the JSON round trip
        stored_args, stored_kwargs = stored["args"], stored["kwargs"]
        max_attempts = self.max_attempts or task.config.max_attempts or DEFAULT_MAX_ATTEMPTS
        ctx = JobContext(
            self.job_id, task.name, request.queue, self.attempt, max_attempts, self._record
        )
        async with asyncio.timeout(task.config.timeout):
            result = await self._call(task, stored_args, stored_kwargs, ctx)
        encoded = serialization.dumps(
            result,
            what=f"result of {task.name}",
            max_bytes=self.max_result_bytes,
            limit="max_result_bytes",
        )
        return cast(R, serialization.loads(encoded))

    def perform_sync(self, task: Task[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """`perform` for sync test code (async tasks too): runs its own event loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.perform(task, *args, **kwargs))
        raise RuntimeError("perform_sync() called inside an event loop: use `await perform(...)`")

    async def _record(self, _job_id: int, value: float | None, message: str | None) -> None:
        self.progress.append(ProgressReport(value, message))

    @staticmethod
    async def _call(
        task: Task[Any, Any], args: list[Any], kwargs: dict[str, Any], ctx: JobContext
    ) -> Any:
        if task.is_async:
            token = set_current(ctx)
            try:
                return await task.fn(*args, **kwargs)
            finally:
                reset_current(token)
        # A sync task runs off the event loop, as in the worker's thread pool, with the context
        # copied in so current_job() and progress_sync() work.
        context = contextvars.copy_context()
        context.run(set_current, ctx)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: context.run(task.fn, *args, **kwargs))


async def perform(task: Task[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run `task` with these arguments as attempt 1 of a worker would, without a database."""
    return await Performer().perform(task, *args, **kwargs)


def perform_sync(task: Task[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """`perform` for sync test code."""
    return Performer().perform_sync(task, *args, **kwargs)
