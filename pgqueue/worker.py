"""The worker: claim batches, run them under a concurrency limit, write outcomes in batches.

wait(NOTIFY | jittered poll) -> claim up to free slots (one statement)
  -> run each job (event loop or thread pool) -> outcome buffered
  -> flusher writes buffered outcomes every few ms (one statement)
side loops: promotion of due scheduled jobs/retries; cancel requests (the backstop for missed
notifications); rescue of jobs whose worker stopped beating; listener health (notifier);
operations (pgqueue/ops.py: progress, the maintenance leader's retention and cron ticks, metrics)
off the loop: the heartbeat, on a thread with its own connection (pgqueue/liveness.py), and sync
tasks, in a pool that replaces threads held by given-up attempts (pgqueue/threads.py)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any

from pgqueue import channels, transitions
from pgqueue.errors import DatabaseError, PgQueueError
from pgqueue.executor import CANCEL_REQUESTED, SHUTDOWN, SUPERSEDED, JobControl, JobRunner
from pgqueue.job import ClaimedJob, JobState
from pgqueue.liveness import Heartbeat, LoopWatch
from pgqueue.metrics import Health
from pgqueue.notifier import Backoff, Coalesced, Subscription, job_ids
from pgqueue.ops import WorkerOps
from pgqueue.outcome import error_info
from pgqueue.outcome_writer import outcome_row, write_outcomes
from pgqueue.repository import Repository, WorkerRow
from pgqueue.settings import WorkerSettings
from pgqueue.threads import SyncThreads
from pgqueue.transitions import Transition
from pgqueue.waits import wait_event

if TYPE_CHECKING:
    from pgqueue.client import App

logger = logging.getLogger("pgqueue.worker")

# How long a cancelled job task may take to end at shutdown before it is abandoned.
CANCEL_GRACE = 5.0
# A pgqueue_cancel notification makes the worker read its cancel requests from the table, at
# most once per this many seconds (anyone who can connect may send such notifications).
CANCEL_CHECK_INTERVAL = 0.25


def _version() -> str:
    try:
        return metadata.version("pgqueue")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True, slots=True)
class WorkerStats:
    processed: int
    failed: int
    active: int
    uptime: float


@dataclass(slots=True)
class _Running:
    task: asyncio.Task[None]
    control: JobControl
    job: ClaimedJob


class Worker:
    """Runs jobs of `app` from the configured queues until stopped.

    `await worker.run()` blocks until `stop()`; `await worker.start()` returns once it is
    serving and leaves it running in the background.
    """

    def __init__(self, app: App, settings: WorkerSettings | None = None, **overrides: Any) -> None:
        self.app = app
        base = settings or WorkerSettings.from_env()
        self.settings = base.with_(**{k: v for k, v in overrides.items() if v is not None})
        self.id = str(uuid.uuid4())
        # The attempt of each job this worker runs; never two of one job (see _spawn).
        self._running: dict[int, _Running] = {}
        # Older attempts the database has since given to this worker again, ending.
        self._superseded: dict[asyncio.Task[None], _Running] = {}
        self._outcomes: list[Transition] = []
        self._flush_lock = asyncio.Lock()
        self._processed = 0
        self._failed = 0
        self._started_at: float | None = None
        self._start_called = False
        self._start_done = asyncio.Event()
        self._start_task: asyncio.Future[None] | None = None
        self._start_aborted = False
        self._stop_requested = False  # a stop asked at any moment, even during start()
        self._stopping = False
        self._stopped = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._fetcher: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None
        self._thread_pool: SyncThreads | None = None
        self._claiming = True
        self._watch: LoopWatch | None = None
        self._heartbeat: Heartbeat | None = None
        self._runner: JobRunner | None = None
        self._repo: Repository | None = None
        # Created lazily inside the running loop.
        self._wake: asyncio.Event | None = None
        self._slot_freed: asyncio.Event | None = None
        self._outcome_added: asyncio.Event | None = None
        self._db_answered: asyncio.Event | None = None
        self._cancel_check = Coalesced(self._check_cancel_requests, CANCEL_CHECK_INTERVAL)
        self._loop: asyncio.AbstractEventLoop | None = None
        # Operations (progress, maintenance leader, metrics): pgqueue/ops.py.
        self.ops = WorkerOps(self)

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

    async def _undo_start(self) -> None:
        """start() failed half-way (a metrics port in use, say): leave nothing running."""
        self._started_at = None
        for loop_task in self._loops:
            loop_task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        await self._unsubscribe()
        if self._thread_pool is not None:
            self._thread_pool.shutdown(wait=False, cancel_futures=True)

    async def _unsubscribe(self) -> None:
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            await self.app.listener.unsubscribe(subscription)

    async def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake, self._slot_freed = asyncio.Event(), asyncio.Event()
        self._outcome_added = asyncio.Event()
        self._db_answered = asyncio.Event()
        await self.app.open()
        self._repo = self.app.repository
        # Registered before the first claim: a job claimed by an unregistered worker looks lost.
        await self._repo.heartbeat(self._worker_row())
        # Nothing below awaits: start-up is either abandoned before this point or complete.
        self.ops.prepare()
        self._thread_pool = SyncThreads(
            self.settings.sync_threads or self.settings.concurrency,
            on_abandoned_exit=self._from_thread(self._thread_returned),
        )
        self._runner = JobRunner(
            self.app.registry,
            thread_pool=self._thread_pool,
            default_max_attempts=self.app.default_max_attempts,
            progress_sink=self.ops.progress_sink,
            max_result_bytes=self.settings.max_result_bytes,
        )
        self._started_at = time.monotonic()
        if self.settings.listen:
            self._subscription = self.app.listener.subscribe(
                (channels.JOBS, channels.CANCEL),
                self._on_notification,
                on_connect=self._on_listener_connected,
            )
        self._loops = [
            asyncio.create_task(self._kept_alive(self._flush_loop), name="pgqueue-flush"),
            asyncio.create_task(self._kept_alive(self._promote_loop), name="pgqueue-promote"),
            asyncio.create_task(
                self._kept_alive(self._cancel_requests_loop), name="pgqueue-cancel-requests"
            ),
            asyncio.create_task(self._kept_alive(self._rescue_loop), name="pgqueue-rescue"),
            asyncio.create_task(
                self._kept_alive(self._cancel_check_loop), name="pgqueue-cancel-check"
            ),
        ]
        self._loops.extend(self.ops.start())
        self._start_liveness()  # last: nothing after it can fail
        if self._stop_requested:
            logger.info("worker %s: stop requested during start-up: claiming nothing", self.id)
            return
        self._fetcher = asyncio.create_task(self._fetch_loop(), name="pgqueue-fetch")
        logger.info(
            "worker %s serving queues %s with concurrency %d",
            self.id,
            ",".join(self.settings.queues),
            self.settings.concurrency,
            extra={"worker_id": self.id},
        )

    def _start_liveness(self) -> None:
        assert self._loop is not None
        self._watch = LoopWatch(self._loop)
        self._watch.start()
        self._heartbeat = Heartbeat(
            dsn=self.app.dsn,
            watch=self._watch,
            row=self._worker_row,
            interval=self.settings.heartbeat_interval,
            stall_limit=self.settings.loop_stall_limit,
            connect_timeout=self.app.connect_timeout,
            command_timeout=self.app.command_timeout,
            on_beat=self._from_thread(self._beat_answered),
            describe=self._describe_task,
            on_stall=self.ops.loop_stalled,
        )
        self._heartbeat.start()

    def _from_thread(self, callback: Callable[..., None]) -> Callable[..., None]:
        """`callback` as a function another thread may call: it runs on the worker's loop."""
        loop = self._loop
        assert loop is not None

        def call(*args: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to tell
                loop.call_soon_threadsafe(callback, *args)

        return call

    async def run(self) -> None:
        """Serve until `stop()` is called (or the task running this is cancelled)."""
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
        if self._started_at is None:
            return  # start() failed or was abandoned: nothing runs
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        timeout = self.settings.shutdown_timeout if timeout is None else timeout
        try:
            await self._shut_down(timeout)
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
        self._cancel_running(SHUTDOWN)

    async def _after_aborted_start(self) -> None:
        """start() was abandoned: leave a registered row stopped, best effort and bounded."""
        if self._repo is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._set_state("stopped"), 5.0)
        self._stopped.set()
        logger.info("worker %s stopped during start-up", self.id, extra={"worker_id": self.id})

    async def _shut_down(self, timeout: float) -> None:
        await self._set_state("stopping")
        assert self._wake is not None and self._slot_freed is not None
        self._wake.set()
        self._slot_freed.set()
        if self._fetcher is not None:
            # Never cancel a claim in flight: its rows would be locked to us with nobody running them.
            await self._fetcher
        running = self._job_tasks()
        if running:
            logger.info("waiting up to %.1fs for %d running jobs", timeout, len(running))
            await asyncio.wait(running, timeout=timeout)
        self._cancel_running(SHUTDOWN)
        if self._job_tasks():
            _, stuck = await asyncio.wait(self._job_tasks(), timeout=CANCEL_GRACE)
            self._abandon(set(stuck))
        await self._drain_outcomes()
        for loop_task in self._loops:
            loop_task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        await self.ops.stop()
        await self._unsubscribe()
        await self._stop_liveness()
        if self._thread_pool is not None:
            self._thread_pool.shutdown(wait=False, cancel_futures=True)
        await self._set_state("stopped")
        logger.info("worker %s stopped", self.id, extra={"worker_id": self.id})

    def _job_tasks(self) -> list[asyncio.Task[None]]:
        """Every job task not ended yet: current attempts and superseded ones."""
        tasks = [r.task for r in self._running.values()] + list(self._superseded)
        return [t for t in tasks if not t.done()]

    async def _stop_liveness(self) -> None:
        if self._heartbeat is not None:
            await asyncio.to_thread(self._heartbeat.stop)
        if self._watch is not None:
            self._watch.stop()

    def _abandon(self, stuck: set[asyncio.Task[None]]) -> None:
        """Requeue jobs whose task ignored cancellation (it swallowed CancelledError or hangs in
        a finally): shutdown must end. Their late outcome, if any, is refused by the guard."""
        for task in stuck & set(self._superseded):
            self._superseded.pop(task, None)  # no outcome of its own to record
        for job_id, running in list(self._running.items()):
            if running.task in stuck:
                logger.error(
                    "job did not stop within %.0fs of being cancelled: requeued, abandoned",
                    CANCEL_GRACE,
                    extra={
                        "job_id": job_id,
                        "task": running.job.task,
                        "queue": running.job.queue,
                        "attempt": running.job.attempts,
                    },
                )
                self._running.pop(job_id, None)
                attempt = running.job.attempts
                self._record(
                    transitions.interrupted(
                        job_id,
                        attempt,
                        error_info("shutdown", attempt, message="did not stop when cancelled"),
                    )
                )

    async def _kept_alive(self, loop: Callable[[], Awaitable[None]]) -> None:
        """Run a side loop forever: an unexpected error is logged with its traceback and the
        loop restarted after a backoff, never left to end silently (a worker whose flush loop
        ended would claim jobs and never record them)."""
        backoff = Backoff()
        while True:
            try:
                await loop()
            except asyncio.CancelledError:
                raise
            except Exception:
                delay = backoff.next_delay()
                logger.exception(
                    "%s failed unexpectedly; restarting it in %.1fs", loop.__name__, delay
                )
                await asyncio.sleep(delay)

    def stats(self) -> WorkerStats:
        uptime = 0.0 if self._started_at is None else time.monotonic() - self._started_at
        active = len(self._running) + len(self._superseded)
        return WorkerStats(self._processed, self._failed, active, uptime)

    async def healthcheck(self) -> dict[str, bool]:
        """Whether the database answers, the listener is connected, the heartbeat (from its own
        thread) reached the database within the ttl, and the sync threads are not exhausted
        (False: the worker stopped claiming, see max_abandoned_threads)."""
        database = False
        if self._repo is not None:
            try:
                async with self._repo.connection() as conn:
                    database = await conn.fetchval("SELECT true") is True
            except PgQueueError:
                database = False
        listener = (
            self._subscription.listening.is_set()
            if self._subscription is not None
            else not self.settings.listen
        )
        heartbeat = time.monotonic() - self._last_beat_ok <= self.settings.heartbeat_ttl
        return {
            "database": database,
            "listener": listener,
            "heartbeat": heartbeat and self._started_at is not None,
            "sync_threads": self._threads_available(),
        }

    def health(self) -> Health:
        """Abandoned sync threads, whether the worker claims, how long the loop is blocked."""
        pool = self._thread_pool
        return Health(
            abandoned_threads=0 if pool is None else pool.abandoned,
            claiming=self._threads_available(),
            loop_blocked_seconds=0.0 if self._heartbeat is None else self._heartbeat.stalled_for,
        )

    @property
    def _last_beat_ok(self) -> float:
        """When a heartbeat last reached the database (monotonic clock)."""
        if self._heartbeat is not None:
            return self._heartbeat.last_ok
        return self._started_at if self._started_at is not None else time.monotonic()

    def _threads_available(self) -> bool:
        pool = self._thread_pool
        return pool is None or pool.abandoned < self.settings.max_abandoned_threads

    @property
    def listener_connected(self) -> asyncio.Event | None:
        return None if self._subscription is None else self._subscription.listening

    # -- claiming ----------------------------------------------------------------------------

    def _on_listener_connected(self) -> None:
        assert self._wake is not None
        self._wake.set()  # notifications sent while away are lost: claim now
        self._database_answered()

    def _on_notification(self, channel: str, payload: str) -> None:
        if channel == channels.JOBS and payload in self.settings.queues and self._wake is not None:
            self._wake.set()
        elif channel == channels.CANCEL and any(i in self._running for i in job_ids(payload)):
            # A hint, never an order: only the table says which jobs to cancel.
            self._cancel_check.poke()

    async def _fetch_loop(self) -> None:
        assert self._wake is not None and self._slot_freed is not None and self._repo is not None
        backoff = Backoff()
        claim_uncertain = False
        while not self._stopping:
            free = self._free_slots()
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            # Cleared before the claim so a NOTIFY arriving during it is not lost.
            self._wake.clear()
            try:
                if claim_uncertain:
                    await self._release_unclaimed()
                    claim_uncertain = False
                jobs = await self._repo.claim(self.settings.queues, free, self.id)
            except DatabaseError as exc:
                # The claim may have committed with its answer lost: check before the next one.
                claim_uncertain = True
                delay = backoff.next_delay()
                logger.warning("claim failed (%s); retrying in %.1fs", exc, delay)
                await self._sleep_unless_stopping(delay)
                continue
            backoff.reset()
            self._database_answered()
            for job in jobs:
                self._spawn(job)
            if len(jobs) < free:
                await self._wait_for_work()

    def _database_answered(self) -> None:
        """Something reached the database: loops backing off from an outage retry now."""
        if self._db_answered is not None:
            self._db_answered.set()

    async def _until_database_answers(self, delay: float) -> None:
        assert self._db_answered is not None
        self._db_answered.clear()
        with contextlib.suppress(TimeoutError):
            await wait_event(self._db_answered, delay)

    async def _release_unclaimed(self) -> None:
        assert self._repo is not None
        known = {*self._running, *(o.job_id for o in self._outcomes)}
        released = await self._repo.release_unclaimed(self.id, sorted(known))
        if released:
            logger.warning(
                "put %d jobs back in the queue: their claim committed but its answer was lost",
                len(released),
                extra={"worker_id": self.id},
            )

    def _free_slots(self) -> int:
        # A safety valve, not a throttle: while outcomes pile up unwritten (a slow or stuck flush),
        # claim nothing more, so a worker never holds far more jobs in 'running' than it runs.
        if len(self._outcomes) >= 5 * self.settings.completion_batch_size:
            return 0
        if not self._update_claiming():
            return 0
        return self.settings.concurrency - len(self._running) - len(self._superseded)

    def _update_claiming(self) -> bool:
        """Whether to claim: not while max_abandoned_threads threads of given-up sync attempts
        still run (each new one would add a thread). Logs each change."""
        claiming = self._threads_available()
        if claiming != self._claiming:
            self._claiming = claiming
            abandoned = self._thread_pool.abandoned if self._thread_pool is not None else 0
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

    def _thread_returned(self) -> None:
        """An abandoned thread ended (called on the loop): the fetch loop may claim again."""
        if self._slot_freed is not None:
            self._slot_freed.set()

    async def _wait_for_work(self) -> None:
        assert self._wake is not None
        poll = self.settings.poll_interval * (0.75 + random.random() / 2)
        with contextlib.suppress(TimeoutError):
            await wait_event(self._wake, poll)

    async def _sleep_unless_stopping(self, delay: float) -> None:
        assert self._wake is not None
        with contextlib.suppress(TimeoutError):
            await wait_event(self._wake, delay)

    # -- running -----------------------------------------------------------------------------

    def _spawn(self, job: ClaimedJob) -> None:
        earlier = self._running.get(job.id)
        if earlier is not None:
            self._supersede(earlier, job)
        control = JobControl()
        task = asyncio.create_task(self._execute(job, control), name=f"pgqueue-job-{job.id}")
        self._running[job.id] = _Running(task, control, job)
        task.add_done_callback(lambda t: self._job_task_done(job, control, t))

    def _supersede(self, earlier: _Running, job: ClaimedJob) -> None:
        """The database handed us `job` while an earlier attempt of it still runs here: we were
        declared lost, the job was rescued, and we claimed it again. The database counts only
        the new attempt (the earlier one's outcome would be refused by the attempt guard), so
        the earlier one is cancelled (a sync one's thread is abandoned) and records nothing:
        this worker never holds two attempts of one job."""
        logger.warning(
            "job %d claimed again (attempt %d) while its attempt %d still runs here: this worker "
            "was declared lost and the job rescued; attempt %d is given up",
            job.id,
            job.attempts,
            earlier.job.attempts,
            earlier.job.attempts,
            extra={"job_id": job.id, "task": job.task, "queue": job.queue},
        )
        earlier.control.cancel_reason = SUPERSEDED
        del self._running[job.id]
        if not earlier.task.done():
            self._superseded[earlier.task] = earlier
            earlier.task.cancel()

    def _forget(self, job: ClaimedJob, task: asyncio.Task[None] | None) -> None:
        """The attempt run by `task` has ended: free its slot (and only its own entry)."""
        running = self._running.get(job.id)
        if running is not None and running.task is task:
            del self._running[job.id]
        if task is not None:
            self._superseded.pop(task, None)
        if self._slot_freed is not None:
            self._slot_freed.set()

    def _job_task_done(
        self, job: ClaimedJob, control: JobControl, task: asyncio.Task[None]
    ) -> None:
        """Backstop for a job task that ended without recording an outcome: a cancel that lands
        before the task first runs is raised before any of its code (and its try blocks) runs."""
        if task in self._superseded:
            self._forget(job, task)
            return
        running = self._running.get(job.id)
        if running is None or running.task is not task:
            return
        attempt = job.attempts
        if control.cancel_reason == CANCEL_REQUESTED:
            result = transitions.cancelled(
                job.id, attempt, error_info("cancelled", attempt, message="cancelled on request")
            )
        else:
            result = transitions.interrupted(
                job.id, attempt, error_info("shutdown", attempt, message="worker stopped")
            )
        self._record(result)
        self._forget(job, task)

    async def _execute(self, job: ClaimedJob, control: JobControl) -> None:
        assert self._runner is not None
        started = time.monotonic()
        result: Transition | None
        try:
            result = await self._runner.run(job, control)
        except asyncio.CancelledError:
            result = None
            if control.cancel_reason != SUPERSEDED:
                result = transitions.interrupted(
                    job.id,
                    job.attempts,
                    error_info("shutdown", job.attempts, message="worker stopped"),
                )
        except Exception as exc:  # a bug in pgqueue's runner: dead-letter, never loop on it
            logger.exception("job runner failed", extra={"job_id": job.id, "task": job.task})
            result = transitions.dead(
                job.id, job.attempts, error_info("internal", job.attempts, exc)
            )
        try:
            if result is not None:
                self._record(result)
                self.ops.job_finished(job, result, time.monotonic() - started)
        finally:
            self._forget(job, asyncio.current_task())

    def cancel_job(self, job_id: int) -> bool:
        """Cancel a job this worker is running (on a cancel request); False if it isn't here."""
        running = self._running.get(job_id)
        if running is None or running.task.done():
            return False
        logger.info(
            "cancelling running job on request",
            extra={
                "job_id": job_id,
                "task": running.job.task,
                "queue": running.job.queue,
                "attempt": running.job.attempts,
            },
        )
        running.control.cancel_reason = CANCEL_REQUESTED
        running.task.cancel()
        return True

    def _cancel_running(self, reason: str) -> None:
        for running in self._running.values():
            if not running.task.done():
                running.control.cancel_reason = reason
                running.task.cancel()

    # -- outcomes ----------------------------------------------------------------------------

    def _record(self, result: Transition) -> None:
        assert self._outcome_added is not None
        self._processed += 1
        if result.name is not transitions.Name.SUCCEEDED:
            self._failed += 1
        self._outcomes.append(result)
        self._outcome_added.set()

    async def _flush_loop(self) -> None:
        assert self._outcome_added is not None
        backoff = Backoff()
        while True:
            await self._outcome_added.wait()
            if len(self._outcomes) < self.settings.completion_batch_size:
                # Coalesce outcomes that finish close together into one statement.
                await asyncio.sleep(self.settings.completion_flush_interval)
            self._outcome_added.clear()
            try:
                await self._flush_once()
            except DatabaseError as exc:
                delay = backoff.next_delay()
                logger.warning(
                    "could not record %d outcomes (%s); retrying in %.1fs",
                    len(self._outcomes),
                    exc,
                    delay,
                )
                self._outcome_added.set()
                await self._until_database_answers(delay)
                continue
            backoff.reset()
            if self._outcomes:
                self._outcome_added.set()

    async def _flush_once(self) -> None:
        assert self._repo is not None
        # One flush at a time (the flush loop and the shutdown drain): outcomes are only ever
        # appended at the end and removed from the front under this lock.
        async with self._flush_lock:
            batch = self._outcomes[: self.settings.completion_batch_size]
            if not batch:
                return
            rows = [outcome_row(t) for t in batch]
            # An outcome the database refuses is recorded as a failure of its own job; the
            # others are written (pgqueue/outcome_writer.py).
            rejected = await write_outcomes(self._repo, rows, self.id)
            self._failed += sum(1 for r in rejected if r.state == JobState.SUCCEEDED)
            # Only forget outcomes once they are written: a failed write is retried, and the
            # state/attempt/worker guard makes a repeated write a no-op.
            del self._outcomes[: len(batch)]
        if self._slot_freed is not None:
            self._slot_freed.set()  # the fetch loop may be holding back while outcomes piled up

    async def _drain_outcomes(self) -> None:
        """Write every buffered outcome before exit, retrying while the database is away."""
        backoff = Backoff(cap=5.0)
        deadline = time.monotonic() + max(30.0, self.settings.shutdown_timeout)
        while self._outcomes:
            try:
                await self._flush_once()
                backoff.reset()
            except DatabaseError as exc:
                if time.monotonic() > deadline:
                    logger.error(
                        "giving up on %d outcomes (%s); their jobs will be rescued",
                        len(self._outcomes),
                        exc,
                    )
                    return
                await asyncio.sleep(backoff.next_delay())

    # -- side loops --------------------------------------------------------------------------

    def _worker_row(self) -> WorkerRow:
        """This worker's row; also read by the heartbeat thread (plain reads only)."""
        stats = self.stats()
        pool = self._thread_pool
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
            abandoned_threads=0 if pool is None else pool.abandoned,
            claiming=self._threads_available(),
        )

    async def _set_state(self, state: str) -> None:
        assert self._repo is not None
        try:
            await self._repo.set_worker_state(self._worker_row(), state)
        except DatabaseError as exc:
            # The row ages out and is marked lost by others; the jobs were handled already.
            logger.warning("could not mark worker %s %s: %s", self.id, state, exc)

    def _beat_answered(self, previous: str) -> None:
        """A heartbeat reached the database (called on the loop); `previous`: the state the row
        was in before it. The beat registered a lost worker again: claims resume (job_claim.sql
        refuses them while the row says lost), and an old attempt of a job that is claimed
        again is given up (_supersede)."""
        self._database_answered()
        if previous == "lost":
            logger.warning(
                "worker %s was marked lost (heartbeats did not reach the database); "
                "its running jobs may have been rescued and run elsewhere",
                self.id,
                extra={"worker_id": self.id},
            )

    def _describe_task(self, name: str | None) -> str:
        """What an asyncio task is, for a stall warning (called on the heartbeat thread)."""
        if name is None:
            return "a callback outside any task"
        job_id = name.removeprefix("pgqueue-job-")
        running = self._running.get(int(job_id)) if job_id.isdigit() else None
        if running is None:
            return f"asyncio task {name}"
        return f"{name} (task {running.job.task}, attempt {running.job.attempts})"

    async def _cancel_requests_loop(self) -> None:
        """Every heartbeat_interval, cancel the running jobs whose cancel request is in the
        table: the backstop for a missed notification (and poll-only mode)."""
        assert self._repo is not None
        backoff = Backoff()
        while True:
            delay = self.settings.heartbeat_interval
            try:
                for job_id in await self._repo.cancel_requested(self.id):
                    self.cancel_job(job_id)
                backoff.reset()
            except DatabaseError as exc:
                delay = backoff.next_delay()
                logger.warning("reading cancel requests failed (%s); retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)

    async def _cancel_check_loop(self) -> None:
        await self._cancel_check.run()

    async def _check_cancel_requests(self) -> None:
        """Cancel the running jobs whose cancel request is recorded (cancel_requested_at)."""
        assert self._repo is not None
        try:
            requested = await self._repo.cancel_requested(self.id)
        except DatabaseError as exc:
            logger.warning("reading cancel requests failed (%s); the heartbeat reads them too", exc)
            return
        for job_id in requested:
            self.cancel_job(job_id)

    async def _rescue_loop(self) -> None:
        """Any live worker rescues jobs of dead ones; SKIP LOCKED keeps two rescuers apart."""
        assert self._repo is not None
        backoff = Backoff()
        interval = min(self.settings.heartbeat_interval, 5.0)
        while True:
            delay = interval * (0.5 + random.random())
            if time.monotonic() - self._last_beat_ok > self.settings.heartbeat_ttl:
                # Our own heartbeats have not reached the database for a ttl (a partition):
                # judging others now could mark ourselves lost and requeue our own running jobs.
                await asyncio.sleep(delay)
                continue
            try:
                lost, _pruned = await self._repo.reap_workers(self.settings.worker_retention)
                rescued = await self._repo.rescue_jobs()
                if lost or rescued:
                    logger.warning(
                        "marked %d silent workers lost; rescued %d jobs (%d requeued, %d dead)",
                        lost,
                        len(rescued),
                        sum(1 for s in rescued.values() if s == "queued"),
                        sum(1 for s in rescued.values() if s == "dead"),
                    )
                backoff.reset()
            except DatabaseError as exc:
                delay = backoff.next_delay()
                logger.warning("rescue check failed (%s); retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)

    async def _promote_loop(self) -> None:
        assert self._repo is not None
        backoff = Backoff()
        while True:
            try:
                await self._repo.promote_due()
                backoff.reset()
                delay = self.settings.schedule_interval * (0.5 + random.random())
            except DatabaseError as exc:
                delay = backoff.next_delay()
                logger.warning("promoting due jobs failed (%s); retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)


async def run_until_signalled(worker: Worker) -> None:
    """Run the worker; SIGTERM/SIGINT stop it gracefully, a second signal stops it at once.
    A signal during start-up counts too: the worker stops as soon as it has started (and a
    second one abandons a start-up that is still waiting, on the database say)."""
    loop = asyncio.get_running_loop()
    signals_seen = 0
    stopper: asyncio.Task[None] | None = None

    def on_signal(signum: int) -> None:
        nonlocal signals_seen, stopper
        signals_seen += 1
        if signals_seen == 1:
            logger.info(
                "received %s: finishing running jobs (send again to stop at once)",
                signal.Signals(signum).name,
            )
            stopper = asyncio.create_task(worker.stop())
        else:
            logger.warning("received %s again: stopping now", signal.Signals(signum).name)
            worker._stop_now()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await worker.run()
        if stopper is not None:
            await stopper
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
