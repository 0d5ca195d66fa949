"""What a worker runs for operators beside its jobs: the progress sink, the maintenance services
(leader election, retention, periodic ticks) and the Prometheus endpoint with its queue reader.

Built from the worker's parts, never from the worker itself (no import cycle): the worker calls
`prepare()`, `services()`, `serving()`, `stop()` and `job_finished()`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from pgqueue._clock import Clock
from pgqueue._job import ClaimedJob, JobRequest
from pgqueue._maintenance import ScheduleClock, database_now
from pgqueue._monitoring import Monitor
from pgqueue._periodic import PeriodicSchedule
from pgqueue._progress import ProgressReporter
from pgqueue._registry import TaskRegistry
from pgqueue._repository import Repository
from pgqueue._services._base import Service
from pgqueue._services.maintenance import Maintenance
from pgqueue._services.queue_stats import QueueStatsReader
from pgqueue._transitions import Transition
from pgqueue.settings import WorkerSettings

if TYPE_CHECKING:
    from pgqueue._metrics import Health, WorkerMetrics

logger = logging.getLogger("pgqueue.worker")

# App.request's shape: the job for a task given by name (periodic ticks enqueue through it).
RequestBuilder = Callable[..., JobRequest]


@dataclass(frozen=True, slots=True)
class OpsParts:
    """What operations take from the worker's parts."""

    registry: TaskRegistry
    schedules: Mapping[str, PeriodicSchedule]
    make_request: RequestBuilder


class WorkerOps:
    """Operations services of one worker. Set `clock` before `start()` to drive periodic
    schedules from a clock of your own (tests, simulations); by default it is database time
    (or the worker's Clock.database_now, if set)."""

    def __init__(self, worker_id: str, *, parts: OpsParts, clock: Clock) -> None:
        self.worker_id = worker_id
        self.registry = parts.registry
        self.schedules = parts.schedules
        self.make_request = parts.make_request
        self.worker_clock = clock
        self.clock: ScheduleClock | None = None
        self.maintenance: Maintenance | None = None
        self.metrics: WorkerMetrics | None = None
        self.metrics_port: int | None = None
        self.progress_sink: ProgressReporter | None = None
        # Called once the worker is serving (registered, every service started): how
        # `pgqueue worker` tells a --processes supervisor that this child started well.
        self.on_serving: list[Callable[[], None]] = []

    def prepare(self, repository: Repository) -> ProgressReporter:
        """Build what the job runner needs before the first claim (the progress sink)."""
        self.progress_sink = ProgressReporter(repository, self.worker_id)
        return self.progress_sink

    def services(
        self,
        repository: Repository,
        settings: WorkerSettings,
        *,
        active: Callable[[], int],
        health: Callable[[], Health],
    ) -> list[Service]:
        """Serve metrics (this can fail: a port in use) and build the services to start."""
        built: list[Service] = []
        if settings.metrics_port is not None:
            self.metrics = self._serve_metrics(settings, settings.metrics_port, active, health)
            reader = QueueStatsReader(
                self.metrics,
                Monitor(repository),
                interval=settings.metrics_interval,
                clock=self.worker_clock,
            )
            built.append(reader)
        if settings.maintenance:
            self.maintenance = Maintenance(
                repository,
                self.worker_id,
                settings,
                list(self.schedules.values()),
                self._periodic_request,
                clock=self.worker_clock,
                now=lambda: self._now(repository),
            )
            built.extend(self.maintenance.services)
        return built

    def _serve_metrics(
        self,
        settings: WorkerSettings,
        port: int,
        active: Callable[[], int],
        health: Callable[[], Health],
    ) -> WorkerMetrics:
        from pgqueue._metrics import WorkerMetrics

        metrics = WorkerMetrics(
            active=active,
            known_task=self.registry.__contains__,
            queues=settings.queues,
            health=health,
        )
        self.metrics_port = metrics.serve(port, settings.metrics_host)
        return metrics

    def serving(self) -> None:
        for callback in self.on_serving:
            callback()

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

    async def _now(self, repository: Repository) -> datetime:
        if self.clock is not None:
            return self.clock()
        override = self.worker_clock.now_override()
        return override if override is not None else await database_now(repository)

    def _periodic_request(self, schedule: PeriodicSchedule, tick: datetime) -> JobRequest:
        # The tick is the job's run_at, so the job records which tick it ran for.
        return self.make_request(
            schedule.task,
            schedule.args,
            schedule.kwargs,
            queue=schedule.queue,
            priority=schedule.priority,
            run_at=tick,
            allow_unknown=True,
        )
