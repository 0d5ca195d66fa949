"""Tasks: `@app.task` turns a function into a `Task[P, R]` whose `enqueue` is checked against the
function's own signature. Job options go through `.using(...)`, never into the task's arguments.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, cast

from pgqueue import _payloads as payloads
from pgqueue._enqueue import Enqueued
from pgqueue._job import DEFAULT_QUEUE, JobOptions, JobRequest, ParentFailure, job_options
from pgqueue._limit_values import NO_LIMITS, LimitRow, Limits
from pgqueue._names import queue_name_problem, task_name_problem
from pgqueue._periodic import PeriodicSchedule
from pgqueue._retry import DEFAULT_RETRY, RetryPolicy
from pgqueue.errors import TaskRegistrationError, UnknownTaskError

P = ParamSpec("P")
R = TypeVar("R")


class Enqueuer(Protocol):
    """What a Task needs from the App to write jobs."""

    async def enqueue_requests(
        self, requests: Sequence[JobRequest], *, connection: Any = None
    ) -> list[Enqueued]: ...

    def enqueue_requests_sync(
        self, requests: Sequence[JobRequest], *, connection: Any
    ) -> list[Enqueued]: ...

    async def _enqueue_plain(
        self,
        task: str,
        args: Sequence[Any],
        kwargs: dict[str, Any],
        queue: str,
        priority: int,
        max_attempts: int | None,
    ) -> int | None: ...

    def _plain_enqueue_open(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class TaskConfig:
    """A task's registered defaults."""

    name: str
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    max_attempts: int | None = None
    retry: RetryPolicy = DEFAULT_RETRY
    timeout: float | None = None
    limits: Limits = NO_LIMITS  # flow control: rate_limit, concurrency_limit (docs/limits.md)

    def __post_init__(self) -> None:
        if not self.name:
            raise TaskRegistrationError("a task name must not be empty")
        if not self.queue:
            raise TaskRegistrationError(f"task {self.name}: queue must not be empty")
        problem = task_name_problem(self.name)
        if problem is not None:
            raise TaskRegistrationError(f"cannot register the task: {problem}")
        problem = queue_name_problem(self.queue)
        if problem is not None:
            raise TaskRegistrationError(f"task {self.name}: {problem}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise TaskRegistrationError(f"task {self.name}: max_attempts must be at least 1")
        if self.timeout is not None and self.timeout <= 0:
            raise TaskRegistrationError(f"task {self.name}: timeout must be positive")


@dataclass(frozen=True, slots=True)
class _Binding:
    options: JobOptions = field(default_factory=JobOptions)
    connection: Any = None


class Task(Generic[P, R]):
    """A registered task. Call it to run the function directly; `enqueue` to run it on a worker."""

    def __init__(
        self,
        fn: Callable[P, Any],
        config: TaskConfig,
        enqueuer: Enqueuer,
        _binding: _Binding | None = None,
    ) -> None:
        self.fn = fn
        self.config = config
        self._enqueuer = enqueuer
        self._binding = _binding or _Binding()
        self._plain = self._binding.connection is None and self._binding.options == JobOptions()
        self.is_async = inspect.iscoroutinefunction(fn)
        self.signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    @property
    def name(self) -> str:
        return self.config.name

    def rebuild_result(self, value: Any) -> R:
        """A stored result of this task as its return annotation types it (a Pydantic model or
        a dataclass rebuilt; plain JSON values as they are): `parent_results_of(task)`."""
        return cast(R, payloads.load_result(self.fn, value))

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Task {self.name} queue={self.config.queue}>"

    def using(
        self,
        *,
        queue: str | None = None,
        priority: int | None = None,
        run_at: datetime | None = None,
        delay: float | timedelta | None = None,
        max_attempts: int | None = None,
        unique_key: str | None = None,
        limit_key: str | None = None,
        depends_on: Sequence[int] | None = None,
        on_parent_failure: ParentFailure | None = None,
        connection: Any = None,
    ) -> Task[P, R]:
        """This task with job options set; `connection` enqueues inside the caller's transaction
        (an asyncpg Connection, or a SQLAlchemy Session/Connection/AsyncSession/AsyncConnection);
        `limit_key`: the job counts against the task's limits per (task, key). `depends_on`
        holds the job waiting until those jobs succeed; a parent that ends dead or cancelled
        cancels it, unless `on_parent_failure="run"` (docs/workflows.md)."""
        options = self._binding.options.merged(
            job_options(
                queue,
                priority,
                run_at,
                delay,
                max_attempts,
                unique_key,
                limit_key,
                depends_on,
                on_parent_failure,
            )
        )
        binding = replace(
            self._binding,
            options=options,
            connection=connection if connection is not None else self._binding.connection,
        )
        return Task(self.fn, self.config, self._enqueuer, binding)

    def with_options(self, options: JobOptions) -> Task[P, R]:
        """This task with `options` applied over the ones already bound (see `using`)."""
        binding = replace(self._binding, options=self._binding.options.merged(options))
        return Task(self.fn, self.config, self._enqueuer, binding)

    def job(self, *args: P.args, **kwargs: P.kwargs) -> JobRequest:
        """A job for `app.enqueue_many`, with this task's arguments checked now."""
        json_args, json_kwargs = self._arguments(args, kwargs)  # typed payloads
        return self._binding.options.request(
            self.name,
            json_args,
            json_kwargs,
            queue=self.config.queue,
            priority=self.config.priority,
            max_attempts=self.config.max_attempts,
        )

    def _arguments(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The arguments checked against the function's signature, typed payloads as JSON data."""
        try:
            payloads.check_arguments(self.fn, args, kwargs)
        except TypeError as exc:
            raise TypeError(f"arguments do not fit task {self.name}: {exc}") from None
        return payloads.dump_arguments(self.fn, args, kwargs)

    async def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> int:
        """Enqueue one job and return its id."""
        if self._plain and self._enqueuer._plain_enqueue_open():
            # No option and no caller's connection (the common call): the job's parameters
            # straight to the App, without a JobRequest (issue 18 goal 1); None means the App
            # takes the full path (hooks, a role or schema without the plain INSERT).
            config = self.config
            json_args, json_kwargs = self._arguments(args, kwargs)
            job_id = await self._enqueuer._enqueue_plain(
                config.name,
                json_args,
                json_kwargs,
                config.queue,
                config.priority,
                config.max_attempts,
            )
            if job_id is not None:
                return job_id
        request = self.job(*args, **kwargs)
        [done] = await self._enqueuer.enqueue_requests(
            [request], connection=self._binding.connection
        )
        return done.id

    def enqueue_sync(self, *args: P.args, **kwargs: P.kwargs) -> int:
        """Enqueue from synchronous code through a SQLAlchemy Session or Connection given with
        `.using(connection=...)`; the job is written in that session's transaction."""
        request = self.job(*args, **kwargs)
        [done] = self._enqueuer.enqueue_requests_sync(
            [request], connection=self._binding.connection
        )
        return done.id

    async def enqueue_unique(self, *args: P.args, **kwargs: P.kwargs) -> Enqueued:
        """Enqueue one job under the key given with `.using(unique_key=...)`: at most one
        queued-or-running job per key. Returns Enqueued(id, duplicate); when a job with the key
        is already queued or running, no job is added, and its id comes back with
        duplicate=True."""
        request = self._unique_request(*args, **kwargs)
        [done] = await self._enqueuer.enqueue_requests(
            [request], connection=self._binding.connection
        )
        return done

    def enqueue_unique_sync(self, *args: P.args, **kwargs: P.kwargs) -> Enqueued:
        """`enqueue_unique` through a SQLAlchemy Session or Connection given with
        `.using(connection=...)`, in that session's transaction."""
        request = self._unique_request(*args, **kwargs)
        [done] = self._enqueuer.enqueue_requests_sync(
            [request], connection=self._binding.connection
        )
        return done

    def _unique_request(self, *args: Any, **kwargs: Any) -> JobRequest:
        if self._binding.options.unique_key is None:
            raise ValueError(
                f"enqueue_unique needs a key: {self.name}.using(unique_key=...).enqueue_unique()"
            )
        return self.job(*args, **kwargs)


class TaskRegistry:
    """Task name -> Task. Two tasks under one name is an error as soon as the second is defined."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task[Any, Any]] = {}

    def add(self, task: Task[Any, Any]) -> None:
        existing = self._tasks.get(task.name)
        if existing is not None:
            raise TaskRegistrationError(
                f"task name {task.name!r} is already registered by "
                f"{existing.fn.__module__}.{existing.fn.__qualname__}; pass name=... to one of them"
            )
        self._tasks[task.name] = task

    def get(self, name: str) -> Task[Any, Any] | None:
        return self._tasks.get(name)

    def require(self, name: str) -> Task[Any, Any]:
        task = self._tasks.get(name)
        if task is None:
            raise UnknownTaskError(f"no task named {name!r} is registered")
        return task

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def __iter__(self) -> Any:
        return iter(self._tasks.values())

    def __len__(self) -> int:
        return len(self._tasks)

    def names(self) -> list[str]:
        return sorted(self._tasks)

    def queues(self, schedules: Iterable[PeriodicSchedule] = ()) -> dict[str, list[str]]:
        """Queue -> the task names whose jobs land there by default: each task's own queue, and
        the queue a periodic schedule sends its task's jobs to. A worker warns at start about
        the ones it does not serve (their jobs would wait for another worker)."""
        found: dict[str, set[str]] = {}
        for task in self._tasks.values():
            found.setdefault(task.config.queue, set()).add(task.name)
        for schedule in schedules:
            scheduled = self._tasks.get(schedule.task)
            queue = schedule.queue or (scheduled.config.queue if scheduled else None)
            if queue is not None:
                found.setdefault(queue, set()).add(schedule.task)
        return {queue: sorted(names) for queue, names in sorted(found.items())}

    def limit_rows(self) -> list[LimitRow]:
        """The limits of the limited tasks, as the worker registers them (pgqueue.limits)."""
        return [
            LimitRow("task", task.name, task.config.limits)
            for task in self._tasks.values()
            if task.config.limits.limited
        ]

    def unlimited_names(self) -> list[str]:
        """The tasks declared without limits: a worker drops any limits registered for them."""
        return sorted(t.name for t in self._tasks.values() if not t.config.limits.limited)


def default_task_name(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def ensure_function(fn: object) -> None:
    if not callable(fn) or inspect.isclass(fn):
        raise TaskRegistrationError(f"@task needs a function, got {fn!r}")
    if inspect.isasyncgenfunction(fn) or inspect.isgeneratorfunction(fn):
        raise TaskRegistrationError(f"@task cannot wrap a generator function: {fn!r}")
    if asyncio.iscoroutine(fn):
        raise TaskRegistrationError("@task needs a function, not a coroutine object")


def declared_limits(what: str, rate_limit: object, concurrency_limit: object) -> Limits:
    """The limits of a task or queue declaration; a bad one fails the declaration (at import
    time) with a TaskRegistrationError that names it and the accepted forms."""
    try:
        return Limits.of(what, rate_limit, concurrency_limit)
    except ValueError as exc:
        raise TaskRegistrationError(str(exc)) from None
