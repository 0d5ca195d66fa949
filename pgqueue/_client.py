"""App: the composition root. Holds the DSN, the pool, the task registry; enqueues and looks up
jobs; waits for results; builds workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from pgqueue import _channels as channels
from pgqueue import _enqueue as enqueue_paths
from pgqueue._admin import Admin, DeadLetterFilter
from pgqueue._clock import Clock
from pgqueue._enqueue import Enqueued
from pgqueue._hooks import Hooks, Instrumentation
from pgqueue._job import (
    DEFAULT_QUEUE,
    NO_OPTIONS,
    JobInfo,
    JobOptions,
    JobRequest,
    JobState,
    ParentFailure,
    job_options,
)
from pgqueue._limit_values import Limits
from pgqueue._names import queue_name_problem
from pgqueue._notifier import Listener, Subscription, job_ids
from pgqueue._payloads import load_result
from pgqueue._periodic import DEFAULT_GRACE, PeriodicSchedule
from pgqueue._progress import MIN_READ_INTERVAL, JobEvent, JobWatcher
from pgqueue._progress import watch as watch_job
from pgqueue._registry import (
    Task,
    TaskConfig,
    TaskRegistry,
    declared_limits,
    default_task_name,
    ensure_function,
)
from pgqueue._repository import Repository, translated
from pgqueue._retry import DEFAULT_RETRY, RetryPolicy
from pgqueue._waits import wait_event
from pgqueue._workflows import Group, Workflow
from pgqueue._workflows import chain as chain_jobs
from pgqueue._workflows import group as group_jobs
from pgqueue.errors import (
    JobFailedError,
    JobNotFoundError,
    ResultTimeoutError,
    TaskRegistrationError,
    UnknownTaskError,
)
from pgqueue.settings import NOT_GIVEN, AppSettings, NotGiven, WorkerSettings

if TYPE_CHECKING:
    # Imported when a worker is built (app.worker()): a process that only enqueues or reads
    # (a web app, `pgqueue status`) never loads the worker and its services.
    from pgqueue._worker import Worker

logger = logging.getLogger("pgqueue")

P = ParamSpec("P")
R = TypeVar("R")


class App:
    """A pgqueue application: tasks, a connection pool, and the ways to enqueue and look up jobs.

    The DSN comes from `dsn`, else PGQUEUE_DSN, else DATABASE_URL, else libpq's defaults
    (PGHOST, PGUSER, ..., the local socket), so it works wherever `psql` works with no flags.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        pool_min_size: int | None = None,
        pool_max_size: int | None = None,
        default_max_attempts: int | None = None,
        connect_timeout: float | None = None,
        command_timeout: float | NotGiven | None = NOT_GIVEN,
        pooler: str | None = None,
        listen_dsn: str | None = None,
        settings: AppSettings | None = None,
    ) -> None:
        """Arguments not given come from PGQUEUE_<NAME> or the defaults (AppSettings), or all of
        them from `settings`; `command_timeout=None`: never abandon a query. `pooler=
        "transaction"`: `dsn` goes through PgBouncer in transaction mode, `listen_dsn` (if any)
        straight to PostgreSQL for LISTEN (docs/pgbouncer.md)."""
        if settings is None:
            if command_timeout is NOT_GIVEN:
                command_timeout = None  # load: None means "not given", 0 "never"
            elif command_timeout is None:
                command_timeout = 0
            settings = AppSettings.load(
                dsn=dsn,
                pool_min_size=pool_min_size,
                pool_max_size=pool_max_size,
                default_max_attempts=default_max_attempts,
                connect_timeout=connect_timeout,
                command_timeout=command_timeout,
                pooler=pooler,
                listen_dsn=listen_dsn,
            )
        self.settings = settings
        self.dsn = settings.dsn
        self.pool_min_size = settings.pool_min_size
        self.pool_max_size = settings.pool_max_size
        self.connect_timeout = settings.connect_timeout
        self.command_timeout = settings.command_timeout
        self.default_max_attempts = settings.default_max_attempts
        # LISTEN through a transaction pooler hears nothing reliably (the session it ran on goes
        # back to the pool): there, only a listen_dsn straight to PostgreSQL can LISTEN.
        self.listens = settings.pooler != "transaction" or settings.listen_dsn is not None
        self._polling_noted = False
        self.registry = TaskRegistry()
        self._repository: Repository | None = None
        self._open_lock: asyncio.Lock | None = None
        self._listener: Listener | None = None
        self._results: Subscription | None = None
        self._result_waiters: dict[int, list[asyncio.Event]] = {}
        # Operations: periodic schedules (@app.periodic) and progress watchers (app.watch).
        self.schedules: dict[str, PeriodicSchedule] = {}
        # Flow control: app.queue(name, rate_limit=..., concurrency_limit=...) (docs/limits.md).
        self.queue_limits: dict[str, Limits] = {}
        self._watcher: JobWatcher | None = None
        # Instrumentation (app.instrument): hooks around enqueue calls and attempts.
        self.hooks = Hooks()

    # -- tasks -------------------------------------------------------------------------------

    @overload
    def task(self, fn: Callable[P, Coroutine[Any, Any, R]], /) -> Task[P, R]: ...

    @overload
    def task(self, fn: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def task(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = ...,
        queue: str = ...,
        priority: int = ...,
        max_attempts: int | None = ...,
        retry: RetryPolicy = ...,
        timeout: float | None = ...,
        rate_limit: str | None = ...,
        concurrency_limit: int | None = ...,
    ) -> _TaskDecorator: ...

    def task(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        queue: str = DEFAULT_QUEUE,
        priority: int = 0,
        max_attempts: int | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: float | None = None,
        rate_limit: str | None = None,
        concurrency_limit: int | None = None,
    ) -> Any:
        """Register a task: `@app.task` or `@app.task(name=..., queue=..., timeout=...)`.
        `rate_limit="20/s"` (N/s, N/m, N/h) and `concurrency_limit=3` hold for all workers
        together, per (task, limit_key) (docs/limits.md)."""

        def register(func: Callable[..., Any]) -> Task[Any, Any]:
            ensure_function(func)
            task_name = default_task_name(func) if name is None else name
            config = TaskConfig(
                name=task_name,
                queue=queue,
                priority=priority,
                max_attempts=max_attempts,
                retry=retry,
                timeout=timeout,
                limits=declared_limits(f"task {task_name}", rate_limit, concurrency_limit),
            )
            task: Task[Any, Any] = Task(func, config, self)
            self.registry.add(task)
            return task

        if fn is not None:
            return register(fn)
        return _TaskDecorator(register)

    def queue(
        self, name: str, *, rate_limit: str | None = None, concurrency_limit: int | None = None
    ) -> None:
        """Limit a whole queue: at most `concurrency_limit` of its jobs running and `rate_limit`
        starts (N/s, N/m, N/h) across all workers, on top of each task's own limits
        (docs/limits.md). Workers that serve the queue register the limits when they start;
        calling it again replaces them, and with neither limit removes them."""
        problem = queue_name_problem(name) if name else "queue name must not be empty"
        if problem is not None:
            raise TaskRegistrationError(f"app.queue: {problem}")
        self.queue_limits[name] = declared_limits(f"queue {name}", rate_limit, concurrency_limit)

    def max_attempts_of(self, task_name: str) -> int:
        """The attempts a job of `task_name` gets when it was enqueued without max_attempts: the
        task's own, else the App's default_max_attempts (what the worker applies)."""
        task = self.registry.get(task_name)
        return (task.config.max_attempts if task else None) or self.default_max_attempts

    # -- connection --------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the connection pool (done lazily by the first call that needs it)."""
        if self._repository is not None:
            return
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            if self._repository is None:
                self._repository = await Repository.open(
                    self.dsn,
                    min_size=self.pool_min_size,
                    max_size=self.pool_max_size,
                    timeout=self.connect_timeout,
                    command_timeout=self.command_timeout,
                    prepared_statements=self.settings.pooler != "transaction",
                )

    async def close(self) -> None:
        if self._watcher is not None:
            watcher, self._watcher = self._watcher, None
            await watcher.stop()
        if self._results is not None:
            results, self._results = self._results, None
            await self.listener.unsubscribe(results)
        if self._listener is not None:
            listener, self._listener = self._listener, None
            await listener.close()
        if self._repository is not None:
            repository, self._repository = self._repository, None
            await repository.close()

    async def __aenter__(self) -> App:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def repository(self) -> Repository:
        if self._repository is None:
            raise RuntimeError("the App is not open: `await app.open()` or `async with app:` first")
        return self._repository

    async def _repo(self) -> Repository:
        await self.open()
        return self.repository

    @property
    def is_open(self) -> bool:
        """Whether the App holds a connection pool (after `open()`, before `close()`)."""
        return self._repository is not None

    # -- enqueue -----------------------------------------------------------------------------

    def request(
        self,
        task_name: str,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        queue: str | None = None,
        priority: int | None = None,
        run_at: datetime | None = None,
        delay: float | timedelta | None = None,
        max_attempts: int | None = None,
        unique_key: str | None = None,
        limit_key: str | None = None,
        allow_unknown: bool = False,
        depends_on: Sequence[int] | None = None,
        on_parent_failure: ParentFailure | None = None,
    ) -> JobRequest:
        """A job for a task given by name, for `enqueue_many`. An unregistered name raises
        UnknownTaskError unless `allow_unknown` (the task lives in another service's worker)."""
        options = job_options(
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
        return self._request(task_name, args, kwargs, options, allow_unknown)

    def _request(
        self,
        task_name: str,
        args: Sequence[Any],
        kwargs: dict[str, Any] | None,
        options: JobOptions,
        allow_unknown: bool,
    ) -> JobRequest:
        task = self.registry.get(task_name)
        if task is None:
            if not allow_unknown:
                raise UnknownTaskError(
                    f"no task named {task_name!r} is registered in this app "
                    f"(known: {', '.join(self.registry.names()) or 'none'}); "
                    "pass allow_unknown=True to enqueue for a task defined elsewhere"
                )
            return options.request(task_name, list(args), dict(kwargs or {}))
        if options is not NO_OPTIONS:
            task = task.with_options(options)
        return task.job(*args, **(kwargs or {}))

    async def enqueue(
        self,
        task_name: str,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        queue: str | None = None,
        priority: int | None = None,
        run_at: datetime | None = None,
        delay: float | timedelta | None = None,
        max_attempts: int | None = None,
        unique_key: str | None = None,
        limit_key: str | None = None,
        allow_unknown: bool = False,
        connection: Any = None,
        depends_on: Sequence[int] | None = None,
        on_parent_failure: ParentFailure | None = None,
    ) -> int:
        """Enqueue a job for a task given by name; returns the job id. `depends_on`: the job
        waits until those jobs succeeded (docs/workflows.md)."""
        options = job_options(
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
        if options is NO_OPTIONS and connection is None:
            task = self.registry.get(task_name)
            if task is not None:
                return await task.enqueue(*args, **(kwargs or {}))
            if allow_unknown:
                job_id = await self._enqueue_plain(
                    task_name, args, kwargs or {}, DEFAULT_QUEUE, 0, None
                )
                if job_id is not None:
                    return job_id
        request = self._request(task_name, args, kwargs, options, allow_unknown)
        [done] = await self.enqueue_requests([request], connection=connection)
        return done.id

    async def _enqueue_plain(
        self,
        task: str,
        args: Sequence[Any],
        kwargs: dict[str, Any],
        queue: str,
        priority: int,
        max_attempts: int | None,
    ) -> int | None:
        """One job without options on the App's own connections, without building a JobRequest
        (`task.enqueue()` and `app.enqueue(name)` with no option: a web request's enqueue, issue
        18 goal 1); the job id, or None when the call must take the JobRequest path: an
        instrumentation is added (its hooks stamp the request), the App is not open yet, or the
        plain INSERT does not apply (pgqueue._enqueue.plain_job_parameters, Jobs.enqueue_plain).
        Nothing is written when it returns None."""
        repository = self._repository
        if repository is None or not self._plain_enqueue_open():
            return None
        parameters = enqueue_paths.plain_job_parameters(
            task, args, kwargs, queue, priority, max_attempts
        )
        if parameters is None:
            return None
        done = await repository.enqueue_plain(parameters)
        return None if done is None else done.id

    def _plain_enqueue_open(self) -> bool:
        """Whether `_enqueue_plain` may write now: no instrumentation, the App open, and its role
        not refused the plain INSERT. Asked before the arguments are prepared, so a caller that
        cannot take the path (a least-privileged producer) does not prepare them twice."""
        repository = self._repository
        return not self.hooks and repository is not None and repository.insert_one is not False

    async def enqueue_many(
        self, jobs: Sequence[JobRequest], *, connection: Any = None
    ) -> list[int]:
        """Enqueue many jobs (from `task.job(...)` or `app.request(...)`) in one round trip and
        one transaction; returns their ids in order."""
        repository = self._repository
        if connection is None and not self.hooks and repository is not None:
            # A keyless batch by the owner: the ids straight from the plain INSERT.
            ids = await repository.enqueue_batch_plain(jobs)
            if ids is not None:
                return ids
        return [done.id for done in await self.enqueue_requests(jobs, connection=connection)]

    def chain(self, *jobs: JobRequest) -> Workflow:
        """Jobs that run one after the other: each waits until the one before it succeeded (and
        reads its result with `current_job().parent_results()`). `await ....enqueue(connection=)`
        or `.enqueue_sync(connection=)` writes them all in one round trip (docs/workflows.md)."""
        return chain_jobs(self, jobs)

    def group(self, jobs: Iterable[JobRequest]) -> Group:
        """Jobs that run independently; `.then(callback.job(...))` adds a callback that runs once,
        after every member succeeded, with their results in order (docs/workflows.md)."""
        return group_jobs(self, jobs)

    def enqueue_many_sync(self, jobs: Sequence[JobRequest], *, connection: Any) -> list[int]:
        """`enqueue_many` through a SQLAlchemy Session or Connection, in its transaction."""
        return [done.id for done in self.enqueue_requests_sync(jobs, connection=connection)]

    async def enqueue_requests(
        self, requests: Sequence[JobRequest], *, connection: Any = None
    ) -> list[Enqueued]:
        if not self.hooks:  # no instrumentation: nothing to enter, stamp or tell the ids
            return await self._write(requests, connection)
        with self.hooks.enqueue(requests) as call:
            written = await self._write(call.stamped(), connection)
            call.ids = [done.id for done in written]
        return written

    async def _write(self, requests: Sequence[JobRequest], connection: Any) -> list[Enqueued]:
        if connection is None:
            repository = self._repository
            if repository is None:
                repository = await self._repo()
            return await repository.enqueue(requests)
        if enqueue_paths.is_sqlalchemy_async(connection):
            return await enqueue_paths.enqueue_sqlalchemy_async(connection, requests)
        if enqueue_paths.is_sqlalchemy_sync(connection):
            raise TypeError(
                "a synchronous SQLAlchemy Session/Connection needs enqueue_sync(), not enqueue()"
            )
        with translated(self.dsn):
            return await enqueue_paths.enqueue_asyncpg(connection, requests)

    def enqueue_requests_sync(
        self, requests: Sequence[JobRequest], *, connection: Any
    ) -> list[Enqueued]:
        if not enqueue_paths.is_sqlalchemy_sync(connection):
            raise TypeError(
                "enqueue_sync() needs connection= a SQLAlchemy Session or Connection; "
                "use `await ...enqueue()` for asyncpg and async SQLAlchemy"
            )
        with self.hooks.enqueue(requests) as call:
            written = enqueue_paths.enqueue_sqlalchemy_sync(connection, call.stamped())
            call.ids = [done.id for done in written]
        return written

    def instrument(self, instrumentation: Instrumentation) -> None:
        """Add an instrumentation (pgqueue.contrib.otel, or your own Instrumentation): its hooks
        run around every enqueue call of this App and every attempt its workers run. Add it
        before building workers (docs/tracing.md)."""
        self.hooks.add(instrumentation)

    # -- lookups and results -----------------------------------------------------------------

    async def get_job(self, job_id: int) -> JobInfo:
        """Everything stored about a job; raises JobNotFoundError if there is none."""
        info = await (await self._repo()).get_job(job_id)
        if info is None:
            raise JobNotFoundError(f"no job with id {job_id}")
        return info

    async def cancel(self, job_id: int) -> str:
        """Cancel a job. Returns "cancelled" (it had not started), "cancelling" (it is running:
        its worker is told and cancels it), or the state it had already finished in. A cancel
        racing a completion ends in exactly one of the two states."""
        outcome = await (await self._repo()).cancel(job_id)
        if outcome == "not_found":
            raise JobNotFoundError(f"no job with id {job_id}")
        return outcome

    async def requeue_dead(
        self,
        ids: Sequence[int] | None = None,
        *,
        task: str | None = None,
        queue: str | None = None,
        error_kind: str | None = None,
        died_before: datetime | None = None,
        died_after: datetime | None = None,
        all_dead: bool = False,
    ) -> int:
        """Put dead letters back in their queue with fresh attempts; returns how many. Every
        filter given must match (ids; task; queue; the last error's kind: "exception",
        "timeout", "worker_lost", "payload", ...; died at or before `died_before`, after
        `died_after`); with none, pass all_dead=True. In batches of short transactions, through
        pgqueue.requeue_dead, as `pgqueue dlq requeue` and SQL callers do (docs/operations.md)."""
        which = _dead_letters(ids, task, queue, error_kind, died_before, died_after)
        return await Admin(await self._repo()).requeue_dead(which.checked(all_dead))

    async def purge_dead(
        self,
        ids: Sequence[int] | None = None,
        *,
        task: str | None = None,
        queue: str | None = None,
        error_kind: str | None = None,
        died_before: datetime | None = None,
        died_after: datetime | None = None,
        all_dead: bool = False,
    ) -> int:
        """Delete dead letters for good; returns how many. The filters of `requeue_dead`; in
        batches, through pgqueue.purge_dead, as `pgqueue dlq purge` and SQL callers do."""
        which = _dead_letters(ids, task, queue, error_kind, died_before, died_after)
        return await Admin(await self._repo()).purge_dead(which.checked(all_dead))

    @overload
    async def result(
        self, job_id: int, timeout: float | None = None, *, poll_interval: float = 5.0
    ) -> Any: ...

    @overload
    async def result(
        self,
        job_id: int,
        timeout: float | None = None,
        *,
        task: Task[Any, R],
        poll_interval: float = 5.0,
    ) -> R: ...

    async def result(
        self,
        job_id: int,
        timeout: float | None = None,
        *,
        task: Task[Any, Any] | None = None,
        poll_interval: float = 5.0,
    ) -> Any:
        """Wait for the job to finish and return its result; with `task=`, the job's task, a
        result its return annotation types as a Pydantic model or a dataclass is rebuilt as one
        (PayloadValidationError if the stored JSON does not fit it).

        Woken by the NOTIFY the worker sends when it records the outcome, with a slow poll as
        the fallback. Raises JobFailedError (dead-lettered or cancelled, with the last error's
        class, message and traceback) or ResultTimeoutError.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        event = asyncio.Event()
        self._result_waiters.setdefault(job_id, []).append(event)
        try:
            if self.listens:
                await self._ensure_result_listener()
            else:
                self.note_polling()
            while True:
                event.clear()
                read_at = time.monotonic()
                info = await self.get_job(job_id)
                if info.state == JobState.SUCCEEDED:
                    return info.result if task is None else load_result(task.fn, info.result)
                if info.state in (JobState.DEAD, JobState.CANCELLED):
                    raise JobFailedError(job_id, info.state.value, info.last_error)
                wait = poll_interval
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise ResultTimeoutError(
                            f"job {job_id} did not finish within {timeout}s (state {info.state})"
                        )
                    wait = min(wait, remaining)
                with contextlib.suppress(TimeoutError):
                    await wait_event(event, wait)
                # However many notifications arrive (forged ones too): one read per interval.
                await asyncio.sleep(max(0.0, read_at + MIN_READ_INTERVAL - time.monotonic()))
        finally:
            waiters = self._result_waiters.get(job_id, [])
            if event in waiters:
                waiters.remove(event)
            if not waiters:
                self._result_waiters.pop(job_id, None)

    @property
    def listener(self) -> Listener:
        """The App's one LISTEN connection, which result waiters, watchers and the worker
        subscribe to (made on first use, on `listen_dsn` if set, else the App's DSN)."""
        if not self.listens:
            raise RuntimeError(
                "this App cannot LISTEN: its DSN goes through a transaction pooler and no "
                "listen_dsn is set (docs/pgbouncer.md)"
            )
        if self._listener is None:
            self._listener = Listener(self.settings.listen_dsn or self.dsn)
        return self._listener

    def note_polling(self) -> None:
        """Say once per App that results, watches and workers poll instead of LISTENing."""
        if not self._polling_noted:
            self._polling_noted = True
            logger.info(
                "pooler=transaction and no listen_dsn: LISTEN is not possible through a "
                "transaction pooler, so app.result(), app.watch() and workers poll the table "
                "(every poll_interval) instead of waking on NOTIFY; set listen_dsn to a direct "
                "PostgreSQL DSN to LISTEN there (docs/pgbouncer.md)"
            )

    async def _ensure_result_listener(self) -> None:
        if self._results is None:
            self._results = self.listener.subscribe(
                (channels.DONE,), self._on_done, on_connect=self._wake_all_waiters
            )
        # Listening before the first state check means a completion cannot slip between them;
        # if the listener is slow to come up, the fallback poll still finds the result.
        await wait_event(self._results.listening, 2.0)

    def _on_done(self, _channel: str, payload: str) -> None:
        # Only a hint to read the job again (anyone who can connect may send one): a forged
        # notification costs a waiter one read of the row, which says the job is not done.
        for job_id in job_ids(payload):
            for event in self._result_waiters.get(job_id, ()):
                event.set()

    def _wake_all_waiters(self) -> None:
        for events in self._result_waiters.values():
            for event in events:
                event.set()

    # -- workers -----------------------------------------------------------------------------

    def worker(
        self,
        settings: WorkerSettings | None = None,
        *,
        clock: Clock | None = None,
        **overrides: Any,
    ) -> Worker:
        """A Worker for this app (see WorkerSettings for the options; `clock`: pgqueue/_clock.py).
        The worker gets this app's parts, never the app itself."""
        from pgqueue._worker import Worker, WorkerParts

        if not self.listens:
            self.note_polling()
        return Worker(WorkerParts.of(self, clock), settings, **overrides)

    # -- operations: periodic tasks, progress ------------------------------------------------

    def periodic(
        self,
        *,
        cron: str,
        name: str | None = None,
        timezone: str = "UTC",
        catch_up: int = 1,
        grace: float = DEFAULT_GRACE,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        queue: str | None = None,
        priority: int | None = None,
    ) -> _PeriodicDecorator:
        """Run a task at every tick of `cron` (5 fields, or 6 with seconds first) in `timezone`:
        exactly one job per tick however many workers run. Stack it on `@app.task` or put it on
        a plain function (registered as a task with default options). `name` defaults to the
        task's name; `catch_up` is how many ticks missed for longer than `grace` seconds still
        run after an outage (the latest ones). See docs/periodic.md."""

        def register(target: Callable[..., Any] | Task[Any, Any]) -> Task[Any, Any]:
            task: Task[Any, Any] = target if isinstance(target, Task) else self.task(target)
            call_kwargs = dict(kwargs or {})
            try:
                task.signature.bind(*args, **call_kwargs)
            except TypeError as exc:
                raise TaskRegistrationError(
                    f"periodic {name or task.name}: args do not fit {task.name}: {exc}"
                ) from None
            schedule = PeriodicSchedule(
                name=name or task.name,
                task=task.name,
                cron=cron,
                timezone=timezone,
                catch_up=catch_up,
                grace=grace,
                args=tuple(args),
                kwargs=call_kwargs,
                queue=queue,
                priority=priority,
            )
            if schedule.name in self.schedules:
                raise TaskRegistrationError(
                    f"a periodic schedule named {schedule.name!r} exists; pass name=..."
                )
            self.schedules[schedule.name] = schedule
            return task

        return _PeriodicDecorator(register)

    async def watch(self, job_id: int, *, poll_interval: float = 5.0) -> AsyncIterator[JobEvent]:
        """The job's progress reports (ProgressEvent) as they happen, in order, then its
        outcome (FinishedEvent) as the last event. Raises JobNotFoundError for an unknown id."""
        repository = await self._repo()
        if self._watcher is None:
            if not self.listens:
                self.note_polling()
            self._watcher = JobWatcher(self.listener if self.listens else None)
        async for event in watch_job(
            repository, self._watcher, job_id, poll_interval=poll_interval
        ):
            yield event


class _TaskDecorator:
    """What `@app.task(...)` returns: a decorator that keeps the function's ParamSpec."""

    def __init__(self, register: Callable[[Callable[..., Any]], Task[Any, Any]]) -> None:
        self._register = register

    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, R]], /) -> Task[P, R]: ...

    @overload
    def __call__(self, fn: Callable[P, R], /) -> Task[P, R]: ...

    def __call__(self, fn: Callable[..., Any], /) -> Any:
        return self._register(fn)


class _PeriodicDecorator:
    """What `@app.periodic(...)` returns: takes a Task or a function, returns the Task."""

    def __init__(self, register: Callable[[Any], Task[Any, Any]]) -> None:
        self._register = register

    @overload
    def __call__(self, fn: Task[P, R], /) -> Task[P, R]: ...

    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, R]], /) -> Task[P, R]: ...

    @overload
    def __call__(self, fn: Callable[P, R], /) -> Task[P, R]: ...

    def __call__(self, fn: Any, /) -> Any:
        return self._register(fn)


def _dead_letters(
    ids: Sequence[int] | None,
    task: str | None,
    queue: str | None,
    error_kind: str | None,
    died_before: datetime | None,
    died_after: datetime | None,
) -> DeadLetterFilter:
    return DeadLetterFilter(
        ids=None if ids is None else list(ids),
        queue=queue,
        task=task,
        died_before=died_before,
        error_kind=error_kind,
        died_after=died_after,
    )
