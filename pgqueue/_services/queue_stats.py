"""Queue stats: reads pgqueue.queue_stats and pgqueue.limit_stats into the queue depth, lag and
limit gauges of a worker's Prometheus endpoint (runs only with metrics_port set;
pgqueue/_metrics.py).

Every worker exporting metrics reads the same view, so the gauges agree with `pgqueue status`;
aggregate them with max() in PromQL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgqueue._clock import Clock
from pgqueue._monitoring import Monitor
from pgqueue._services._base import Service

if TYPE_CHECKING:
    from pgqueue._metrics import WorkerMetrics


class QueueStatsReader(Service):
    name = "metrics"
    what = "reading queue metrics"

    def __init__(
        self, metrics: WorkerMetrics, monitor: Monitor, *, interval: float, clock: Clock
    ) -> None:
        super().__init__(interval=interval, clock=clock)
        self.metrics = metrics
        self.monitor = monitor

    async def run_once(self) -> None:
        self.metrics.set_queues(await self.monitor.queues())
        self.metrics.set_limits(await self.monitor.limits())
