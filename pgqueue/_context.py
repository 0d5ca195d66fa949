"""The running job, available to task code through `pgqueue.current_job()`.

A context variable rather than an extra task parameter keeps task signatures (and so the
ParamSpec-checked `enqueue`) exactly the user's own. Sync tasks see it too: the worker copies the
context into the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

ProgressSink = Callable[[int, float | None, str | None], Awaitable[None]]
# The task name and result of each of a job's parents, in order (the repository's parent_results).
ParentResults = Callable[[int], Awaitable[list[tuple[str, Any]]]]
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class ResultOf(Protocol[T_co]):
    """What `parent_results_of` needs of a task: its name and how its results are rebuilt
    (a `Task[P, R]` is a `ResultOf[R]`)."""

    @property
    def name(self) -> str: ...

    def rebuild_result(self, value: Any) -> T_co: ...


@dataclass(slots=True)
class JobContext:
    """What a task may know about the attempt it is running in."""

    job_id: int
    task: str
    queue: str
    attempt: int
    max_attempts: int
    _progress_sink: ProgressSink | None = field(default=None, repr=False)
    # The worker's event loop, for progress_sync() from a sync task's thread.
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _parent_results: ParentResults | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self._loop is None:
            with contextlib.suppress(RuntimeError):
                self._loop = asyncio.get_running_loop()

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts

    async def progress(self, value: float | None = None, message: str | None = None) -> None:
        """Record progress (a number, a message or both) on the job and notify watchers."""
        if self._progress_sink is not None:
            await self._progress_sink(self.job_id, value, message)

    def progress_sync(
        self, value: float | None = None, message: str | None = None, *, timeout: float = 30.0
    ) -> None:
        """`progress()` for sync (`def`) tasks, which run in the worker's thread pool: the
        report is written on the worker's event loop and this call waits until it is stored."""
        sink = self._progress_sink
        if sink is None:
            return

        async def report() -> None:
            await sink(self.job_id, value, message)

        self._on_worker_loop(report, "progress", timeout)

    async def parent_results(self) -> list[Any]:
        """The results of the jobs this one waited for (its `depends_on`, a chain's previous job,
        every member of a group for its callback), in their order; `[]` without parents. A
        parent that did not succeed (`on_parent_failure="run"`) gives None."""
        return [result for _task, result in await self._parents()]

    async def parent_results_of(self, task: ResultOf[T]) -> list[T]:
        """The typed way: the results of the parents that ran `task`, in order, rebuilt as its
        return annotation says (a Pydantic model or a dataclass comes back as one), typed
        `list[R]` for a `Task[P, R]`. A parent of `task` that did not succeed is left out."""
        return [
            task.rebuild_result(result)
            for name, result in await self._parents()
            if name == task.name and result is not None
        ]

    async def _parents(self) -> list[tuple[str, Any]]:
        if self._parent_results is None:
            return []
        return await self._parent_results(self.job_id)

    def parent_results_sync(self, *, timeout: float = 30.0) -> list[Any]:
        """`parent_results()` for sync (`def`) tasks, read on the worker's event loop."""
        return self._on_worker_loop(self.parent_results, "parent_results", timeout)

    def _on_worker_loop(self, call: Callable[[], Awaitable[T]], what: str, timeout: float) -> T:
        """Run `call` on the worker's event loop from a sync task's thread and wait for it."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise RuntimeError(f"{what}_sync() needs the worker's event loop, which is gone")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError(f"in an async task use `await current_job().{what}(...)`")

        async def run() -> T:
            return await call()

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout)

    def log_extra(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "task": self.task,
            "queue": self.queue,
            "attempt": self.attempt,
        }


_current: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar(
    "pgqueue_current_job", default=None
)


def current_job() -> JobContext:
    """The job the calling task is running as; raises LookupError outside a task."""
    ctx = _current.get()
    if ctx is None:
        raise LookupError("current_job() called outside a running pgqueue task")
    return ctx


def set_current(ctx: JobContext | None) -> contextvars.Token[JobContext | None]:
    return _current.set(ctx)


def reset_current(token: contextvars.Token[JobContext | None]) -> None:
    _current.reset(token)
