"""The worker: claim batches, run them under a concurrency limit, write outcomes in batches.

wait(NOTIFY | jittered poll) -> claim up to free slots (one statement)
  -> run each job (event loop or thread pool: pgqueue/_attempts.py) -> outcome buffered
  -> the flusher writes buffered outcomes every few ms (one statement)
background services (pgqueue/_services/, one module each on one base): flush, promotion of due
jobs, cancel requests, rescue of jobs whose worker stopped beating, and the operations ones
(pgqueue/_ops.py: the maintenance leader's retention and cron ticks, queue metrics); the
heartbeat runs on a thread with its own connection (pgqueue/_services/heartbeat.py), sync tasks in
a pool that replaces threads held by given-up attempts (pgqueue/_threads.py).

The worker is built from its parts (`WorkerParts`: repository, registry, listener, clock, ...);
`Worker(app)` pulls them out of an App through the `AppLike` protocol, so this module never
imports pgqueue._client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from typing import Any, Protocol

from pgqueue import _channels as channels
from pgqueue import _transitions as transitions
from pgqueue._attempts import Attempts, cancelled_on_request, interrupted
from pgqueue._backoff import Backoff, jittered
from pgqueue._claim_cursor import ClaimCursor
from pgqueue._clock import Clock
from pgqueue._executor import JobRunner
from pgqueue._flow import FlowControl
from pgqueue._hooks import Hooks
from pgqueue._job import ClaimedJob, JobRequest
from pgqueue._limit_values import Limits
from pgqueue._metrics import Health
from pgqueue._notifier import Callback, Listener, Subscription, job_ids
from pgqueue._ops import OpsParts, RequestBuilder, WorkerOps
from pgqueue._periodic import PeriodicSchedule
from pgqueue._ready import ReadyJobs
from pgqueue._registry import TaskRegistry
from pgqueue._repository import ClaimConnection, Repository, WorkerRow
from pgqueue._services._base import Service
from pgqueue._services.cancel_check import CancelCheck
from pgqueue._services.flusher import Flusher
from pgqueue._services.heartbeat import Heartbeat, LoopWatch
from pgqueue._services.promoter import Promoter
from pgqueue._services.rescuer import Rescuer
from pgqueue._threads import SyncThreads
from pgqueue._transitions import Transition
from pgqueue.errors import DatabaseError, PgQueueError
from pgqueue.settings import WorkerSettings

logger = logging.getLogger("pgqueue.worker")


class _Listening:
    """The worker's subscription to its App's one LISTEN connection (pgqueue/_notifier.py):
    wake-ups and cancel hints, both read again from the table."""

    def __init__(
        self,
        listener: Listener,
        channel_names: tuple[str, ...],
        callback: Callback,
        on_connect: Callable[[], None],
    ) -> None:
        self._listener = listener
        self._channels = channel_names
        self._callback = callback
        self._on_connect = on_connect
        self._subscription: Subscription | None = None
        self._never = asyncio.Event()

    def start(self) -> None:
        self._subscription = self._listener.subscribe(
            self._channels, self._callback, on_connect=self._on_connect
        )

    async def stop(self) -> None:
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            await self._listener.unsubscribe(subscription)

    @property
    def connected(self) -> asyncio.Event:
        """Set while every channel of the worker is LISTENed on the current connection."""
        return self._never if self._subscription is None else self._subscription.listening

    @property
    def is_connected(self) -> bool:
        return self.connected.is_set()


def _version() -> str:
    try:
        return metadata.version("pgqueue")
    except metadata.PackageNotFoundError:
        return "unknown"


class AppLike(Protocol):
    """What `Worker(app)` reads from an App (pgqueue._client imports this module, never the
    reverse)."""

    dsn: str | None
    registry: TaskRegistry
    schedules: dict[str, PeriodicSchedule]
    queue_limits: dict[str, Limits]
    default_max_attempts: int
    connect_timeout: float
    command_timeout: float | None
    hooks: Hooks
    listens: bool  # False behind a transaction pooler without a listen_dsn: poll only

    @property
    def repository(self) -> Repository: ...

    @property
    def listener(self) -> Listener: ...

    async def open(self) -> None: ...

    def request(
        self,
        task_name: str,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        queue: str | None = None,
        priority: int | None = None,
        run_at: datetime | None = None,
        allow_unknown: bool = False,
    ) -> JobRequest: ...


@dataclass(frozen=True)
class WorkerParts:
    """Everything a worker is built from. `repository()` opens the pool on first use;
    `listener()` gives the App's one LISTEN connection to subscribe to (None: poll only).
    `of(app)` takes them from an App when the worker is built (its dsn and timeouts as they are
    then; its registry and schedules live)."""

    repository: Callable[[], Awaitable[Repository]]
    registry: TaskRegistry
    dsn: str | None
    schedules: Mapping[str, PeriodicSchedule]
    make_request: RequestBuilder
    default_max_attempts: int = 3
    connect_timeout: float = 10.0
    command_timeout: float | None = 30.0
    clock: Clock = field(default_factory=Clock)
    listener: Callable[[], Listener] | None = None
    hooks: Hooks = field(default_factory=Hooks)  # the App's instrumentation (pgqueue._hooks)
    queue_limits: Mapping[str, Limits] = field(default_factory=dict)

    def operations(self) -> OpsParts:
        return OpsParts(self.registry, self.schedules, self.make_request)

    def flow(self, poll_interval: float, clock: Clock) -> FlowControl:
        """Flow control (docs/limits.md): when to run the limited claim beside the plain one."""
        return FlowControl(
            self.registry, self.queue_limits, poll_interval=poll_interval, clock=clock
        )

    @classmethod
    def of(cls, app: AppLike, clock: Clock | None = None) -> WorkerParts:
        async def repository() -> Repository:
            await app.open()
            return app.repository

        def listener() -> Listener:
            return app.listener

        return cls(
            repository=repository,
            registry=app.registry,
            dsn=app.dsn,
            schedules=app.schedules,
            make_request=app.request,
            default_max_attempts=app.default_max_attempts,
            connect_timeout=app.connect_timeout,
            command_timeout=app.command_timeout,
            clock=clock or Clock(),
            listener=listener if app.listens else None,
            hooks=app.hooks,
            queue_limits=app.queue_limits,
        )


@dataclass(frozen=True, slots=True)
class WorkerStats:
    processed: int
    failed: int
    active: int
    uptime: float


@dataclass(slots=True)
class _Serving:
    """What exists only while the worker serves: built at once in start(), so nothing in here
    is ever None half-way."""

    repository: Repository
    runner: JobRunner
    threads: SyncThreads
    flusher: Flusher
    services: list[Service]
    notifier: _Listening | None
    watch: LoopWatch
    heartbeat: Heartbeat
    started_at: float
    # The fetch loop's own connection for the plain claims, while it runs (None: the pool).
    claims: ClaimConnection | None = None
    fetcher: asyncio.Task[None] | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def _from_thread(
    loop: asyncio.AbstractEventLoop, callback: Callable[..., None]
) -> Callable[..., None]:
    """`callback` as a function another thread may call: it runs on `loop`."""

    def call(*args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to tell
            loop.call_soon_threadsafe(callback, *args)

    return call


class Worker:
    """Runs jobs of `app` from the configured queues until stopped.

    `await worker.run()` blocks until `stop()`; `await worker.start()` returns once it is
    serving and leaves it running in the background. `app` is an App (its parts are taken out
    of it) or a `WorkerParts`; `clock` replaces the real one (tests, pgqueue/_clock.py).
    """

    def __init__(
        self,
        app: AppLike | WorkerParts,
        settings: WorkerSettings | None = None,
        *,
        clock: Clock | None = None,
        **overrides: Any,
    ) -> None:
        self.parts = app if isinstance(app, WorkerParts) else WorkerParts.of(app, clock)
        self.clock = clock or self.parts.clock
        base = settings or WorkerSettings.from_env()
        self.settings = base.with_(**{k: v for k, v in overrides.items() if v is not None})
        self.id = str(uuid.uuid4())
        self._outcomes: list[Transition] = []
        self._processed = self._failed = 0
        self._repository: Repository | None = None
        self._serving: _Serving | None = None
        self._start_called = self._start_aborted = False
        self._start_done = asyncio.Event()
        self._start_task: asyncio.Future[None] | None = None
        self._stop_requested = self._stopping = False  # a stop asked at any moment, even in start()
        self._stopped = asyncio.Event()
        self._claiming = True
        self._until_empty = False  # run(until_empty=True): stop once nothing is left to run
        self._burst_stop: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()  # claim now: a NOTIFY, a stop, the listener back
        self._slot_freed = asyncio.Event()  # and the jobs claimed ahead start (_start_ready)
        self._outcome_added = asyncio.Event()
        self._db_answered = asyncio.Event()  # loops backing off from an outage retry now
        # Operations (progress, maintenance leader, metrics): pgqueue/_ops.py.
        self.ops = WorkerOps(self.id, parts=self.parts.operations(), clock=self.clock)
        self._ready = ReadyJobs(self.settings.concurrency, self.settings.prefetch)  # _ready.py
        self._flow = self.parts.flow(self.settings.poll_interval, self.clock)  # docs/limits.md
        self._cursor = ClaimCursor(self.clock)  # bounded claims while full ones are slow
        self._attempts = Attempts(
            record=self._record,
            finished=self._job_finished,
            slot_freed=self._on_slot_freed,
            clock=self.clock,
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and start serving in the background. A stop() asked while this runs is
        honoured once it returns: the worker then claims nothing and shuts down."""
        if self._start_called:
            raise RuntimeError("worker already started")
        self._start_called = True
        try:
            await self._start()
        except BaseException:
            await self._undo_start()
            raise
        finally:
            self._start_done.set()

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        self._repository = repository = await self.parts.repository()
        # Registered before the first claim: a job claimed by an unregistered worker looks lost.
        await repository.heartbeat(self._worker_row())
        await self._flow.register(repository, self.id)
        # Nothing below awaits: start-up is either abandoned before this point or complete.
        self._serving = serving = self._build(repository, loop)
        if self._stop_requested:
            self._start_services(serving)
        else:
            # The first claim goes first, alone: it takes the pool connection start-up left open,
            # and the services' first passes (which open more connections, and cost CPU on a
            # busy machine) start once it has returned. Both at once put the first job 35-60 ms
            # after start() returned; this, under 20 (docs/benchmarks.md, benchmarks/startup.py).
            # The task runs only once start() returns; _undo_start cancels it before that.
            serving.fetcher = asyncio.create_task(self._fetch_loop(serving), name="pgqueue-fetch")
        if serving.notifier is not None:
            serving.notifier.start()
        serving.watch.start()
        serving.heartbeat.start()  # last: nothing after it can fail
        self.ops.serving()
        if serving.fetcher is None:
            logger.info("worker %s: stop requested during start-up: claiming nothing", self.id)
            return
        logger.info(
            "worker %s serving queues %s with concurrency %d",
            self.id,
            ",".join(self.settings.queues),
            self.settings.concurrency,
            extra={"worker_id": self.id},
        )
        self._warn_unserved()

    def _warn_unserved(self) -> None:
        """Say which of the app's queues this worker leaves alone: their jobs wait for a worker
        started with --queue for them, and nothing else would tell (issue 14, item 3)."""
        app_queues = self.parts.registry.queues(self.parts.schedules.values())
        for queue, tasks in app_queues.items():
            if queue not in self.settings.queues:
                logger.warning(
                    "worker %s does not serve queue %r (tasks %s): its jobs wait for a worker "
                    "that does (pgqueue worker --queue %s)",
                    self.id,
                    queue,
                    ", ".join(tasks),
                    queue,
                    extra={"worker_id": self.id, "queue": queue},
                )

    def _start_services(self, serving: _Serving) -> None:
        """Start the background services, once (after the first claim, or at a start-up that
        claims nothing)."""
        if not serving.tasks:
            serving.tasks = [service.start() for service in serving.services]

    def _build(self, repository: Repository, loop: asyncio.AbstractEventLoop) -> _Serving:
        """Every part of a serving worker, nothing started yet."""
        settings = self.settings
        # Operations first: serving metrics can fail (a port in use), before anything else runs.
        operations = self.ops.services(
            repository, settings, active=lambda: self._attempts.active, health=self.health
        )
        threads = SyncThreads(
            settings.sync_thread_limit,
            on_abandoned_exit=_from_thread(loop, self._slot_freed.set),
        )
        runner = JobRunner(
            self.parts.registry,
            thread_pool=threads,
            default_max_attempts=self.parts.default_max_attempts,
            progress_sink=self.ops.prepare(repository),
            max_result_bytes=settings.max_result_bytes,
            hooks=self.parts.hooks,
            parent_results=repository.parent_results,
        )
        flusher = self._flusher(repository)
        cancel_check = CancelCheck(
            repository,
            self.id,
            self._cancel_job,
            interval=settings.heartbeat_interval,
            clock=self.clock,
        )
        watch = LoopWatch(loop)
        return _Serving(
            repository=repository,
            runner=runner,
            threads=threads,
            flusher=flusher,
            services=[flusher, *self._maintenance(repository), cancel_check, *operations],
            notifier=self._listener(cancel_check),
            watch=watch,
            heartbeat=self._heartbeat(watch, loop),
            started_at=self.clock.monotonic(),
        )

    def _flusher(self, repository: Repository) -> Flusher:
        return Flusher(
            repository,
            self.id,
            pending=self._outcomes,
            wake=self._outcome_added,
            batch_size=self.settings.completion_batch_size,
            flush_interval=self.settings.completion_flush_interval,
            clock=self.clock,
            on_written=self._outcomes_written,
            on_rejected=self._count_rejected,
            database_answered=self._db_answered,
        )

    def _maintenance(self, repository: Repository) -> list[Service]:
        """The services every worker runs for the cluster: promotion and rescue."""
        settings = self.settings
        return [
            Promoter(repository, interval=settings.schedule_interval, clock=self.clock),
            Rescuer(
                repository,
                heartbeat_interval=settings.heartbeat_interval,
                heartbeat_ttl=settings.heartbeat_ttl,
                worker_retention=settings.worker_retention,
                last_beat_ok=self._last_beat_ok,
                clock=self.clock,
            ),
        ]

    def _listener(self, cancel_check: CancelCheck) -> _Listening | None:
        # No listener part: the App is behind a transaction pooler without a listen_dsn.
        if not self.settings.listen or self.parts.listener is None:
            return None

        def on_notification(channel: str, payload: str) -> None:
            if channel == channels.JOBS and payload in self.settings.queues:
                self._wake.set()
            elif channel == channels.CANCEL and any(
                i in self._attempts.running or i in self._ready for i in job_ids(payload)
            ):
                cancel_check.notified()  # a hint, never an order: only the table says which

        return _Listening(
            self.parts.listener(),
            (channels.JOBS, channels.CANCEL),
            on_notification,
            self._on_listener_connected,
        )

    def _heartbeat(self, watch: LoopWatch, loop: asyncio.AbstractEventLoop) -> Heartbeat:
        return Heartbeat(
            dsn=self.parts.dsn,
            watch=watch,
            row=self._worker_row,
            interval=self.settings.heartbeat_interval,
            stall_limit=self.settings.loop_stall_limit,
            connect_timeout=self.parts.connect_timeout,
            command_timeout=self.parts.command_timeout,
            on_beat=_from_thread(loop, self._beat_answered),
            describe=self._attempts.describe,
            on_stall=self.ops.loop_stalled,
            monotonic=self.clock.monotonic,
        )

    async def _undo_start(self) -> None:
        """start() failed half-way (a metrics port in use, say): leave nothing running."""
        serving, self._serving = self._serving, None
        if serving is not None:
            if serving.fetcher is not None:
                serving.fetcher.cancel()  # not run yet (start() never returned): claims nothing
            await self._stop_services(serving)
        else:
            with contextlib.suppress(Exception):
                await self.ops.stop()

    async def run(self, *, until_empty: bool = False) -> None:
        """Serve until `stop()` is called (or the task running this is cancelled).

        `until_empty=True` (burst mode, `pgqueue worker --burst`): also stop, gracefully, once
        no runnable job remains in the worker's queues, nothing runs and every outcome is
        written; see docs/worker.md#burst-mode for what counts as runnable."""
        if self._start_called:
            raise RuntimeError("worker already started")
        self._until_empty = until_empty
        self._start_task = asyncio.ensure_future(self.start())
        try:
            await self._start_task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not self._start_aborted or (current is not None and current.cancelling()):
                raise
            await self._after_aborted_start()
            return
        try:
            await self._stopped.wait()
        except asyncio.CancelledError:
            await self.stop()
            raise

    async def stop(self, timeout: float | None = None) -> None:
        """Stop claiming, let running jobs finish for up to `timeout` seconds (default: the
        shutdown_timeout setting), put the rest back in the queue, flush every outcome.
        Called while start() still runs, it waits for start() and then stops."""
        if not self._start_called or self._stopped.is_set():
            return
        self._stop_requested = True
        await self._start_done.wait()
        serving = self._serving
        if serving is None:
            return  # start() failed or was abandoned: nothing runs
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        timeout = self.settings.shutdown_timeout if timeout is None else timeout
        try:
            await self._shut_down(serving, timeout)
        finally:
            # Whatever went wrong above, run() and a second stop() must not wait forever.
            self._stopped.set()

    def _stop_now(self) -> None:
        """Stop without waiting for anything that can take long: running jobs are interrupted
        at once (and requeued), and a start-up still in progress (say, connecting) is
        abandoned. A graceful stop must already be under way, or is started by the caller."""
        self._stop_requested = True
        self.settings = self.settings.with_(shutdown_timeout=0.0)
        if not self._start_done.is_set():
            if self._start_task is not None:
                self._start_aborted = True
                self._start_task.cancel()
            return
        self._attempts.interrupt_all()

    async def _after_aborted_start(self) -> None:
        """start() was abandoned: leave a registered row stopped, best effort and bounded."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._set_state("stopped"), 5.0)
        self._stopped.set()
        logger.info("worker %s stopped during start-up", self.id, extra={"worker_id": self.id})

    async def _shut_down(self, serving: _Serving, timeout: float) -> None:
        await self._set_state("stopping")
        self._wake.set()
        self._slot_freed.set()
        if serving.fetcher is not None:
            # Never cancel a claim in flight: its rows would be locked to us with nobody running them.
            await serving.fetcher
        self._put_back_ready()
        await self._attempts.end_all(timeout)
        await serving.flusher.drain(give_up_after=max(30.0, self.settings.shutdown_timeout))
        await self._stop_services(serving)
        await self._set_state("stopped")
        logger.info("worker %s stopped", self.id, extra={"worker_id": self.id})

    async def _stop_services(self, serving: _Serving) -> None:
        for task in serving.tasks:
            task.cancel()
        await asyncio.gather(*serving.tasks, return_exceptions=True)
        await self.ops.stop()
        if serving.notifier is not None:
            await serving.notifier.stop()
        await asyncio.to_thread(serving.heartbeat.stop)
        serving.watch.stop()
        serving.threads.shutdown(wait=False, cancel_futures=True)

    # -- state and health --------------------------------------------------------------------

    def stats(self) -> WorkerStats:
        serving = self._serving
        uptime = 0.0 if serving is None else self.clock.monotonic() - serving.started_at
        return WorkerStats(self._processed, self._failed, self._attempts.active, uptime)

    async def healthcheck(self) -> dict[str, bool]:
        """Whether the database answers, the listener is connected, the heartbeat (from its own
        thread) reached the database within the ttl, and the sync threads are not exhausted
        (False: the worker stopped claiming, see max_abandoned_threads)."""
        database = False
        if self._repository is not None:
            try:
                database = await self._repository.ping()
            except PgQueueError:
                database = False
        notifier = None if self._serving is None else self._serving.notifier
        # A worker that never LISTENs (--no-listen, a transaction pooler) has no listener to lose.
        listens = self.settings.listen and self.parts.listener is not None
        listener = notifier.is_connected if notifier is not None else not listens
        silent = self.clock.monotonic() - self._last_beat_ok()
        return {
            "database": database,
            "listener": listener,
            "heartbeat": silent <= self.settings.heartbeat_ttl and self._serving is not None,
            "sync_threads": self._threads_available(),
        }

    def health(self) -> Health:
        """Abandoned sync threads, whether the worker claims, how long the loop is blocked."""
        serving = self._serving
        return Health(
            abandoned_threads=0 if serving is None else serving.threads.abandoned,
            claiming=self._threads_available(),
            loop_blocked_seconds=0.0 if serving is None else serving.heartbeat.stalled_for,
        )

    def _last_beat_ok(self) -> float:
        """When a heartbeat last reached the database (the worker's clock)."""
        serving = self._serving
        return self.clock.monotonic() if serving is None else serving.heartbeat.last_ok

    def _threads_available(self) -> bool:
        serving = self._serving
        abandoned = 0 if serving is None else serving.threads.abandoned
        return abandoned < self.settings.max_abandoned_threads

    @property
    def listener_connected(self) -> asyncio.Event | None:
        notifier = None if self._serving is None else self._serving.notifier
        return None if notifier is None else notifier.connected

    def _worker_row(self) -> WorkerRow:
        """This worker's row; also read by the heartbeat thread (plain reads only)."""
        stats = self.stats()
        return WorkerRow(
            id=self.id,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            queues=self.settings.queues,
            concurrency=self.settings.concurrency,
            version=_version(),
            heartbeat_ttl=self.settings.heartbeat_ttl,
            processed=stats.processed,
            failed=stats.failed,
            active=stats.active,
            abandoned_threads=self.health().abandoned_threads,
            claiming=self._threads_available(),
            tasks=tuple(self.parts.registry.names()),
        )

    async def _set_state(self, state: str) -> None:
        if self._repository is None:
            return  # never registered
        try:
            await self._repository.set_worker_state(self._worker_row(), state)
        except DatabaseError as exc:
            # The row ages out and is marked lost by others; the jobs were handled already.
            logger.warning("could not mark worker %s %s: %s", self.id, state, exc)

    def _beat_answered(self, previous: str) -> None:
        """A heartbeat reached the database (called on the loop); `previous`: the state the row
        was in before it. The beat registered a lost worker again: claims resume (job_claim.sql
        refuses them while the row says lost), and an old attempt of a job that is claimed
        again is given up (pgqueue/_attempts.py)."""
        self._database_answered()
        if previous == "lost":
            # The rescue may have put the jobs claimed ahead back (and others may run them): give
            # them back. The outcome guard makes that a no-op for each job no longer ours, and a
            # job claimed since the beat registered us anew goes back to the queue, not astray.
            self._put_back_ready("worker was declared lost before the job started")
            logger.warning(
                "worker %s was marked lost (heartbeats did not reach the database); "
                "its running jobs may have been rescued and run elsewhere",
                self.id,
                extra={"worker_id": self.id},
            )

    # -- claiming ----------------------------------------------------------------------------

    def _on_listener_connected(self) -> None:
        self._wake.set()  # notifications sent while away are lost: claim now
        self._database_answered()

    async def _fetch_loop(self, serving: _Serving) -> None:
        serving.claims = serving.repository.lend_claim_connection()
        try:
            await self._claim_until_stopped(serving)
        finally:
            if serving.claims is not None:
                await serving.claims.close()  # back to the pool, its setting undone

    async def _claim_until_stopped(self, serving: _Serving) -> None:
        backoff = Backoff()
        claim_uncertain = False
        settled = False  # burst mode: outcomes written and due jobs promoted since the last claim
        while not self._stopping:
            free = self._free_slots()
            if free <= 0:
                self._start_services(serving)  # no first claim to wait for
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            # Cleared before the claim so a NOTIFY arriving during it is not lost.
            self._take_wake()
            try:
                jobs = await self._claim(serving, free, claim_uncertain)
            except DatabaseError as exc:
                # The claim may have committed with its answer lost: check before the next one.
                claim_uncertain = True
                delay = backoff.next_delay()
                logger.warning("claim failed (%s); retrying in %.1fs", exc, delay)
                self._start_services(serving)
                await self.clock.wait(self._wake, delay)
                continue
            claim_uncertain = False
            backoff.reset()
            self._database_answered()
            await self._take_in(serving, jobs)
            if self._until_empty:
                verdict = await self._burst_check(serving, jobs, settled)
                if verdict is None:
                    return
                settled = verdict
                if settled:
                    continue  # claim once more now, after the outcomes and promotions
            if len(jobs) < free:
                idle = jittered(self.settings.poll_interval, 0.25)
                await self.clock.wait(self._wake, self._flow.wait(idle))

    async def _take_in(self, serving: _Serving, jobs: list[ClaimedJob]) -> None:
        """Hand a claim's jobs in, then start the services (once: after the first claim and its
        jobs' tasks, which then run first, see _start), then give the loop one turn, so the jobs
        just handed in start before the next claim's round trip: a wake-up that came during the
        claim (the LISTEN connection's first connect, say) would otherwise send that claim
        first."""
        self._hand_in(serving, jobs)
        self._start_services(serving)
        if jobs:
            await asyncio.sleep(0)

    async def _burst_check(
        self, serving: _Serving, jobs: list[ClaimedJob], settled: bool
    ) -> bool | None:
        """Burst mode, after a claim: None when the worker is done (a graceful stop is started),
        True to claim again at once, False to go on as usual.

        Done means a claim found nothing, nothing runs, and that claim came after every outcome
        was written and every due scheduled job or retry promoted (a written outcome can queue a
        retry; a promotion queues jobs): two claims, the last one on a settled database."""
        if jobs or self._attempts.active or self._ready or self._flow.holds_jobs_back:
            return False  # work found or running: an attempt's end wakes the loop (_on_slot_freed)
        if settled:
            logger.info(
                "worker %s: no runnable job left (burst mode): stopping",
                self.id,
                extra={"worker_id": self.id},
            )
            self._burst_stop = asyncio.create_task(self.stop(), name="pgqueue-burst-stop")
            return None
        await serving.flusher.drain(give_up_after=max(30.0, self.settings.shutdown_timeout))
        if self._outcomes:
            return False  # the database is away: the flusher keeps trying, so do we
        try:
            await serving.repository.promote_due(now=self.clock.now_override())
        except DatabaseError as exc:
            logger.warning("could not promote due jobs (%s); checking again", exc)
            return False  # the next claim (or its backoff) comes first
        self._cursor.expire()  # the claim that may find nothing left is a full one
        return True

    def _hand_in(self, serving: _Serving, jobs: list[ClaimedJob]) -> None:
        """Claimed jobs into the jobs in hand, and those into the free slots. A job handed out
        again ends what this worker still holds of its earlier attempt first."""
        self._attempts.supersede(jobs)
        if jobs and self._outcomes:
            self._drop_outcomes_of_lost_claims(serving, jobs)
        self._ready.add(jobs)
        self._start_ready(serving)

    def _drop_outcomes_of_lost_claims(self, serving: _Serving, jobs: list[ClaimedJob]) -> None:
        """A claim handed out a job whose earlier attempt here ended with an outcome not yet
        written: the job was queued, so that attempt's claim is gone from the database (lost in
        a crash of PostgreSQL, since claims commit asynchronously), and its outcome, under the
        same attempt number and worker as the new claim, must not be written."""
        for stale in serving.flusher.forget({job.id for job in jobs}):
            logger.warning(
                "job %d claimed again while the outcome (%s) of its attempt %d here was not "
                "written yet: that attempt's claim was lost; its outcome is dropped and the job "
                "runs again",
                stale.job_id,
                stale.target,
                stale.attempt,
                extra={"job_id": stale.job_id, "worker_id": self.id},
            )

    def _take_wake(self) -> None:
        """Clear the wake-up before a claim; one that came also makes the limited claim due."""
        if self._wake.is_set():
            self._flow.woken()
        self._wake.clear()

    def _outcomes_written(self) -> None:
        """Outcomes reached the database: their slots are free. A limited job's slot is free for
        every worker only now (it has left 'running'): claim again at once."""
        self._slot_freed.set()
        if self._flow.written(o.job_id for o in self._outcomes):
            self._wake.set()

    def _on_slot_freed(self) -> None:
        self._slot_freed.set()
        serving = self._serving
        if self._ready and serving is not None and not self._stopping:
            self._start_ready(serving)  # no round trip: the next job is in hand
        if self._until_empty and not self._attempts.active:
            self._wake.set()  # the last attempt ended: see whether anything is left

    async def _claim(
        self, serving: _Serving, free: int, after_lost_answer: bool
    ) -> list[ClaimedJob]:
        repository = serving.repository
        if after_lost_answer:
            known = {
                *self._attempts.running,
                *self._ready.ids(),
                *(o.job_id for o in self._outcomes),
            }
            released = await repository.release_unclaimed(self.id, sorted(known))
            if released:
                self._cursor.expire()  # they are back before the keys: the next claim is full
                logger.warning(
                    "put %d jobs back in the queue: their claim committed but its answer was lost",
                    len(released),
                    extra={"worker_id": self.id},
                )
        jobs: list[ClaimedJob] = []
        # Limited jobs only for the slots free now, never ahead: a job claimed ahead is 'running'
        # and so holds one of its limit's slots (or a rate's token) while it waits in hand.
        slots = min(free, self.settings.concurrency - self._attempts.active - len(self._ready))
        if slots > 0 and self._flow.due():
            jobs = await self._flow.claim(repository, self.settings.queues, slots, self.id)
        if len(jobs) < free:
            jobs += await self._claim_plain(repository, free - len(jobs), serving.claims)
        return jobs

    async def _claim_plain(
        self, repository: Repository, limit: int, via: ClaimConnection | None = None
    ) -> list[ClaimedJob]:
        """The plain claim: the full one, or while full claims are slow the one that starts
        after the jobs claimed last (pgqueue/_claim_cursor.py, docs/worker.md)."""
        keys = self._cursor.bound()
        started = self.clock.monotonic()
        queues = self.settings.queues
        if keys is None:
            jobs = await repository.claim(queues, limit, self.id, via=via)
        else:
            jobs = await repository.claim_after(queues, limit, self.id, keys, via=via)
        self._cursor.claimed(jobs, self.clock.monotonic() - started, bounded=keys is not None)
        return jobs

    def _database_answered(self) -> None:
        """Something reached the database: loops backing off from an outage retry now."""
        self._db_answered.set()

    def _free_slots(self) -> int:
        """How many jobs to claim now: the free slots, and ahead of them while jobs are short
        (pgqueue/_ready.py); 0 to wait for a slot."""
        # A safety valve, not a throttle: while outcomes pile up unwritten (a slow or stuck flush),
        # claim nothing more, so a worker never holds far more jobs in 'running' than it runs.
        if len(self._outcomes) >= 5 * self.settings.completion_batch_size:
            return 0
        if not self._update_claiming():
            return 0
        return self._ready.claim_size(self._attempts.active)

    def _start_ready(self, serving: _Serving) -> None:
        """Start claimed jobs in the free slots, highest priority first."""
        for job in self._ready.take(self.settings.concurrency - self._attempts.active):
            self._attempts.spawn(job, serving.runner)

    def _put_back_ready(self, why: str = "worker stopped before the job started") -> None:
        """Stopping (or declared lost): the jobs claimed ahead go back to the queue, their
        attempt not counted."""
        for job in self._ready.clear():
            self._outcomes.append(interrupted(job, why))
            self._outcome_added.set()

    def _update_claiming(self) -> bool:
        """Whether to claim: not while max_abandoned_threads threads of given-up sync attempts
        still run (each new one would add a thread). Logs each change."""
        claiming = self._threads_available()
        if claiming != self._claiming:
            self._claiming = claiming
            abandoned = self.health().abandoned_threads
            if claiming:
                logger.warning(
                    "sync threads returned (%d abandoned now): claiming jobs again",
                    abandoned,
                    extra={"worker_id": self.id},
                )
            else:
                logger.error(
                    "%d sync task threads still run after their attempts timed out or were "
                    "cancelled (max_abandoned_threads %d): this worker claims no more jobs and "
                    "reports itself unhealthy until some return; restart it if they never do",
                    abandoned,
                    self.settings.max_abandoned_threads,
                    extra={"worker_id": self.id},
                )
        return claiming

    # -- running and outcomes ----------------------------------------------------------------

    def _spawn(self, job: ClaimedJob) -> None:
        if self._serving is None:
            raise RuntimeError("the worker is not serving")
        self._attempts.spawn(job, self._serving.runner)

    def cancel_job(self, job_id: int) -> bool:
        """Cancel a job this worker is running (on a cancel request); False if it isn't here."""
        return self._cancel_job(job_id)

    def _cancel_job(self, job_id: int) -> bool:
        job = self._ready.remove(job_id)
        if job is None:
            return self._attempts.cancel(job_id)
        self._record(cancelled_on_request(job))  # claimed ahead: it never starts
        return True

    def _job_finished(self, job: ClaimedJob, result: Transition, seconds: float) -> None:
        self._ready.ran(seconds)
        self.ops.job_finished(job, result, seconds)

    def _record(self, result: Transition) -> None:
        self._processed += 1
        self._flow.recorded(result.job_id)
        if result.name is not transitions.Name.SUCCEEDED:
            self._failed += 1
        self._outcomes.append(result)
        self._outcome_added.set()

    def _count_rejected(self, successes: int) -> None:
        """Successes the database refused were recorded as failures of their jobs."""
        self._failed += successes


class _Signals:
    """SIGTERM/SIGINT for run_until_signalled: the first stops gracefully (at once if the worker
    is running, once it has started if it has not begun to), the second stops now."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.seen = 0
        self.stopper: asyncio.Task[None] | None = None
        self.before: asyncio.Future[None] | None = None
        self.stop_once_started = False

    def __call__(self, signum: int) -> None:
        self.seen += 1
        name = signal.Signals(signum).name
        if self.seen == 1:
            logger.info("received %s: finishing running jobs (send again to stop at once)", name)
            if self.before is not None and not self.before.done():
                self.stop_once_started = True  # the worker has not begun to start yet
            else:
                self.stopper = asyncio.create_task(self.worker.stop())
            return
        logger.warning("received %s again: stopping now", name)
        if self.before is not None:
            self.before.cancel()
        self.worker._stop_now()

    async def prelude(self, prelude: Callable[[], Awaitable[None]]) -> bool:
        """Run `prelude`; False if a second signal abandoned it (do not start the worker)."""
        self.before = before = asyncio.ensure_future(prelude())
        try:
            await before
        except asyncio.CancelledError:
            if not (before.cancelled() and self.seen >= 2):
                raise
            return False
        return True

    async def run(self, until_empty: bool) -> None:
        running = asyncio.ensure_future(self.worker.run(until_empty=until_empty))
        if self.stop_once_started:
            await asyncio.sleep(0)  # let start() begin: a stop then counts as during start-up
            self.stopper = asyncio.create_task(self.worker.stop())
        await running
        if self.stopper is not None:
            await self.stopper


async def run_until_signalled(
    worker: Worker,
    *,
    until_empty: bool = False,
    prelude: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Run the worker (until the queues are empty too, with `until_empty`: burst mode);
    SIGTERM/SIGINT stop it gracefully, a second signal stops it at once.
    A signal during start-up counts too: the worker stops as soon as it has started (and a
    second one abandons a start-up that is still waiting, on the database say). `prelude` (the
    CLI's start-up report) runs first, under the same signal handling."""
    loop = asyncio.get_running_loop()
    signals = _Signals(worker)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, signals, sig)
    try:
        if prelude is None or await signals.prelude(prelude):
            await signals.run(until_empty)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
