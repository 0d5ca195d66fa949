"""What a worker runs for operators beside its jobs: the progress sink, the maintenance loop
(leader election, retention, periodic ticks) and the Prometheus endpoint.

Kept out of worker.py so the fetch/run/flush core stays small; the worker calls `start()`,
`stop()`, `progress_sink` and `job_finished()`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from pgqueue.errors import DatabaseError
from pgqueue.job import ClaimedJob, JobRequest
from pgqueue.maintenance import Clock, Maintenance
from pgqueue.monitoring import Monitor
from pgqueue.notifier import Backoff
from pgqueue.periodic import PeriodicSchedule
from pgqueue.progress import ProgressReporter
from pgqueue.transitions import Transition

if TYPE_CHECKING:
    from pgqueue.metrics import WorkerMetrics
    from pgqueue.worker import Worker

logger = logging.getLogger("pgqueue.worker")


class WorkerOps:
    """Operations services of one worker. Set `clock` before `start()` to drive periodic
    schedules from a clock of your own (tests, simulations); by default it is database time."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.clock: Clock | None = None
        self.maintenance: Maintenance | None = None
        self.metrics: WorkerMetrics | None = None
        self.metrics_port: int | None = None
        self.progress_sink: ProgressReporter | None = None
        # Called once the worker is serving (registered, every service started): how
        # `pgqueue worker` tells a --processes supervisor that this child started well.
        self.on_serving: list[Callable[[], None]] = []

    def prepare(self) -> None:
        """Build what the job runner needs before the first claim (the progress sink)."""
        repository = self.worker.app.repository
        self.progress_sink = ProgressReporter(repository, self.worker.id)

    def start(self) -> list[asyncio.Task[None]]:
        """Start maintenance and metrics; returns the background tasks for the worker to own."""
        settings = self.worker.settings
        app = self.worker.app
        tasks: list[asyncio.Task[None]] = []
        # Metrics first: serving can fail (a port in use), and then no task is left behind.
        if settings.metrics_port is not None:
            from pgqueue.metrics import WorkerMetrics

            self.metrics = WorkerMetrics(
                active=lambda: self.worker.stats().active,
                known_task=app.registry.__contains__,
                queues=settings.queues,
                health=self.worker.health,
            )
            self.metrics_port = self.metrics.serve(settings.metrics_port, settings.metrics_host)
            tasks.append(asyncio.create_task(self._queue_metrics_loop(), name="pgqueue-metrics"))
        if settings.maintenance:
            self.maintenance = Maintenance(
                app.repository,
                self.worker.id,
                settings,
                list(app.schedules.values()),
                self._periodic_request,
                self.clock,
            )
            tasks.extend(self.maintenance.tasks())
        for callback in self.on_serving:
            callback()
        return tasks

    async def stop(self) -> None:
        if self.maintenance is not None:
            await self.maintenance.stop()
        if self.metrics is not None:
            await self.metrics.close()

    def job_finished(self, job: ClaimedJob, outcome: Transition, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.observe(job.task, job.queue, outcome.metric_label, seconds)

    def loop_stalled(self, seconds: float) -> None:
        """The event loop was blocked this long (called on the heartbeat thread)."""
        if self.metrics is not None:
            self.metrics.loop_stall.observe(seconds)

    def _periodic_request(self, schedule: PeriodicSchedule, tick: datetime) -> JobRequest:
        # The tick is the job's run_at, so the job records which tick it ran for.
        return self.worker.app.request(
            schedule.task,
            schedule.args,
            schedule.kwargs,
            queue=schedule.queue,
            priority=schedule.priority,
            run_at=tick,
            allow_unknown=True,
        )

    async def _queue_metrics_loop(self) -> None:
        assert self.metrics is not None
        monitor = Monitor(self.worker.app.repository)
        backoff = Backoff()
        while True:
            delay = self.worker.settings.metrics_interval
            try:
                self.metrics.set_queues(await monitor.queues())
                backoff.reset()
            except DatabaseError as exc:
                delay = backoff.next_delay()
                logger.warning("reading queue metrics failed (%s)", exc)
            except Exception:
                delay = backoff.next_delay()
                logger.exception("reading queue metrics failed")
            await asyncio.sleep(delay)
