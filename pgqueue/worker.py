"""The worker: claim batches, run them under a concurrency limit, write outcomes in batches.

wait(NOTIFY | jittered poll) -> claim up to free slots (one statement)
  -> run each job (event loop or thread pool) -> outcome buffered
  -> flusher writes buffered outcomes every few ms (one statement)
side loops: promotion of due scheduled jobs/retries; listener health (notifier)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgqueue import outcome as outcomes
from pgqueue.errors import DatabaseError, PgQueueError
from pgqueue.executor import SHUTDOWN, JobControl, JobRunner
from pgqueue.job import ClaimedJob
from pgqueue.notifier import Backoff, Notifier
from pgqueue.outcome import Outcome, error_info
from pgqueue.repository import OutcomeRow, Repository
from pgqueue.settings import WorkerSettings

if TYPE_CHECKING:
    from pgqueue.client import App

logger = logging.getLogger("pgqueue.worker")

JOBS_CHANNEL = "pgqueue_jobs"


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
        self._running: dict[int, _Running] = {}
        self._outcomes: list[Outcome] = []
        self._processed = 0
        self._failed = 0
        self._started_at: float | None = None
        self._stopping = False
        self._stopped = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._fetcher: asyncio.Task[None] | None = None
        self._notifier: Notifier | None = None
        self._thread_pool: ThreadPoolExecutor | None = None
        self._runner: JobRunner | None = None
        self._repo: Repository | None = None
        # Created lazily inside the running loop.
        self._wake: asyncio.Event | None = None
        self._slot_freed: asyncio.Event | None = None
        self._outcome_added: asyncio.Event | None = None
        self._flushed: asyncio.Event | None = None
        self.claimed_count = 0

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and start serving in the background."""
        if self._started_at is not None:
            raise RuntimeError("worker already started")
        self._wake, self._slot_freed = asyncio.Event(), asyncio.Event()
        self._outcome_added, self._flushed = asyncio.Event(), asyncio.Event()
        await self.app.open()
        self._repo = self.app.repository
        self._thread_pool = ThreadPoolExecutor(
            max_workers=self.settings.sync_threads or self.settings.concurrency,
            thread_name_prefix="pgqueue-sync",
        )
        self._runner = JobRunner(
            self.app.registry,
            thread_pool=self._thread_pool,
            default_max_attempts=self.app.default_max_attempts,
        )
        self._started_at = time.monotonic()
        if self.settings.listen:
            self._notifier = Notifier(
                self.app.dsn, (JOBS_CHANNEL,), self._on_notification, on_connect=self._wake.set
            )
            self._notifier.start()
        self._loops = [
            asyncio.create_task(self._flush_loop(), name="pgqueue-flush"),
            asyncio.create_task(self._promote_loop(), name="pgqueue-promote"),
        ]
        self._fetcher = asyncio.create_task(self._fetch_loop(), name="pgqueue-fetch")
        logger.info(
            "worker %s serving queues %s with concurrency %d",
            self.id,
            ",".join(self.settings.queues),
            self.settings.concurrency,
            extra={"worker_id": self.id},
        )

    async def run(self) -> None:
        """Serve until `stop()` is called (or the task running this is cancelled)."""
        await self.start()
        try:
            await self._stopped.wait()
        except asyncio.CancelledError:
            await self.stop()
            raise

    async def stop(self, timeout: float | None = None) -> None:
        """Stop claiming, let running jobs finish for up to `timeout` seconds (default: the
        shutdown_timeout setting), put the rest back in the queue, flush every outcome."""
        if self._started_at is None or self._stopped.is_set():
            return
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        timeout = self.settings.shutdown_timeout if timeout is None else timeout
        assert self._wake is not None and self._slot_freed is not None
        self._wake.set()
        self._slot_freed.set()
        if self._fetcher is not None:
            # Never cancel a claim in flight: its rows would be locked to us with nobody running them.
            await self._fetcher
        running = [r.task for r in self._running.values()]
        if running:
            logger.info("waiting up to %.1fs for %d running jobs", timeout, len(running))
            await asyncio.wait(running, timeout=timeout)
        self._cancel_running(SHUTDOWN)
        if self._running:
            await asyncio.wait([r.task for r in self._running.values()])
        await self._drain_outcomes()
        for loop_task in self._loops:
            loop_task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        if self._notifier is not None:
            await self._notifier.stop()
        if self._thread_pool is not None:
            self._thread_pool.shutdown(wait=False, cancel_futures=True)
        logger.info("worker %s stopped", self.id, extra={"worker_id": self.id})
        self._stopped.set()

    def stats(self) -> WorkerStats:
        uptime = 0.0 if self._started_at is None else time.monotonic() - self._started_at
        return WorkerStats(self._processed, self._failed, len(self._running), uptime)

    async def healthcheck(self) -> dict[str, bool]:
        """Whether the database answers and the listener is connected."""
        database = False
        if self._repo is not None:
            try:
                async with self._repo.connection() as conn:
                    database = await conn.fetchval("SELECT true") is True
            except PgQueueError:
                database = False
        listener = (
            self._notifier.is_connected if self._notifier is not None else not self.settings.listen
        )
        return {"database": database, "listener": listener}

    @property
    def listener_connected(self) -> asyncio.Event | None:
        return None if self._notifier is None else self._notifier.connected

    # -- claiming ----------------------------------------------------------------------------

    def _on_notification(self, channel: str, payload: str) -> None:
        if channel == JOBS_CHANNEL and payload in self.settings.queues and self._wake is not None:
            self._wake.set()

    async def _fetch_loop(self) -> None:
        assert self._wake is not None and self._slot_freed is not None and self._repo is not None
        backoff = Backoff()
        while not self._stopping:
            free = self._free_slots()
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            # Cleared before the claim so a NOTIFY arriving during it is not lost.
            self._wake.clear()
            try:
                jobs = await self._repo.claim(self.settings.queues, free, self.id)
            except DatabaseError as exc:
                delay = backoff.next_delay()
                logger.warning("claim failed (%s); retrying in %.1fs", exc, delay)
                await self._sleep_unless_stopping(delay)
                continue
            backoff.reset()
            self.claimed_count += len(jobs)
            for job in jobs:
                self._spawn(job)
            if len(jobs) < free:
                await self._wait_for_work()

    def _free_slots(self) -> int:
        # A safety valve, not a throttle: while outcomes pile up unwritten (a slow or stuck flush),
        # claim nothing more, so a worker never holds far more jobs in 'running' than it runs.
        if len(self._outcomes) >= 5 * self.settings.completion_batch_size:
            return 0
        return self.settings.concurrency - len(self._running)

    async def _wait_for_work(self) -> None:
        assert self._wake is not None
        poll = self.settings.poll_interval * (0.75 + random.random() / 2)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), poll)

    async def _sleep_unless_stopping(self, delay: float) -> None:
        assert self._wake is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)

    # -- running -----------------------------------------------------------------------------

    def _spawn(self, job: ClaimedJob) -> None:
        control = JobControl()
        task = asyncio.create_task(self._execute(job, control), name=f"pgqueue-job-{job.id}")
        self._running[job.id] = _Running(task, control, job)

    async def _execute(self, job: ClaimedJob, control: JobControl) -> None:
        assert self._runner is not None and self._slot_freed is not None
        try:
            result = await self._runner.run(job, control)
        except asyncio.CancelledError:
            result = outcomes.requeued(
                job.id, job.attempts, error_info("shutdown", job.attempts, message="worker stopped")
            )
        except BaseException as exc:  # SystemExit/KeyboardInterrupt raised inside a task
            result = outcomes.retrying(
                job.id, job.attempts, 0.0, error_info("exception", job.attempts, exc)
            )
        self._record(result)
        self._running.pop(job.id, None)
        self._slot_freed.set()

    def _cancel_running(self, reason: str) -> None:
        for running in self._running.values():
            if not running.task.done():
                running.control.cancel_reason = reason
                running.task.cancel()

    # -- outcomes ----------------------------------------------------------------------------

    def _record(self, result: Outcome) -> None:
        assert self._outcome_added is not None
        self._processed += 1
        if result.state != outcomes.SUCCEEDED:
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
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            if self._outcomes:
                self._outcome_added.set()

    async def _flush_once(self) -> None:
        assert self._repo is not None
        batch = self._outcomes[: self.settings.completion_batch_size]
        if not batch:
            return
        rows = [
            OutcomeRow(o.job_id, o.attempt, o.state, o.result_json, o.error_json, o.retry_in)
            for o in batch
        ]
        await self._repo.record_outcomes(rows)
        # Only forget outcomes once they are written: a failed write is retried, and the
        # state = 'running' AND attempts guard makes a repeated write a no-op.
        del self._outcomes[: len(batch)]
        if self._slot_freed is not None:
            self._slot_freed.set()

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
    """Run the worker; SIGTERM/SIGINT stop it gracefully, a second signal stops it at once."""
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
            worker.settings = worker.settings.with_(shutdown_timeout=0.0)
            worker._cancel_running(SHUTDOWN)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await worker.run()
        if stopper is not None:
            await stopper
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
