"""Prometheus metrics for a worker (optional: needs prometheus-client, `pip install
pgqueue[metrics]`).

Each worker has its own CollectorRegistry, never the global one, so several workers (and tests)
live in one process. Job metrics are counted where outcomes are recorded; queue depth and lag
are read from pgqueue.queue_stats every `metrics_interval`, the same numbers `pgqueue status`
shows (every worker exports them: aggregate with max() in PromQL).

Label values are bounded, whatever producers write: a task label names a task registered in the
worker's app, any other name is counted under UNKNOWN_TASK; queue labels name the queues the
worker serves and at most MAX_OTHER_QUEUES others (the largest), the rest summed under
OTHER_QUEUES. Every distinct label set is a time series held in memory for the worker's life.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgqueue.errors import ConfigurationError

if TYPE_CHECKING:
    from pgqueue._monitoring import LimitStats, QueueStats

logger = logging.getLogger("pgqueue.metrics")

# Seconds: from a millisecond task to a long batch job.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
# Stalls are reported from 1 s (pgqueue/_services/heartbeat.py) up to loop_stall_limit (300 s by default).
STALL_BUCKETS = (1, 2.5, 5, 10, 30, 60, 120, 300, 900)
DEPTH_STATES = ("ready", "scheduled", "running", "retrying", "dead")
LIMIT_STATES = ("running", "waiting", "started_1m")
UNKNOWN_TASK = "<unknown>"
OTHER_QUEUES = "<other>"
MAX_OTHER_QUEUES = 20


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ConfigurationError(
            "metrics need prometheus-client: pip install 'pgqueue[metrics]'"
        ) from exc
    return prometheus_client


@dataclass(frozen=True, slots=True)
class Health:
    """What the health gauges read from the worker when scraped."""

    abandoned_threads: int
    claiming: bool
    loop_blocked_seconds: float


class WorkerMetrics:
    """The metrics of one worker, in a registry of its own."""

    def __init__(
        self,
        active: Callable[[], int],
        *,
        known_task: Callable[[str], bool] | None = None,
        queues: Sequence[str] = (),
        health: Callable[[], Health] | None = None,
    ) -> None:
        # None: every task name is a label (for metrics built outside a worker).
        self._known_task = known_task
        self._queues = frozenset(queues)
        prom = _prometheus()
        self.registry = prom.CollectorRegistry()
        self._job_metrics(prom, active)
        self._queue_metrics(prom)
        if health is not None:
            self._health_gauges(prom, health)
        self._server: Any = None
        self._thread: Any = None

    def _job_metrics(self, prom: Any, active: Callable[[], int]) -> None:
        self.executions = prom.Counter(
            "pgqueue_job_executions",
            "Job attempts finished by this worker, by task, queue and outcome "
            "(succeeded, retrying, dead, cancelled, requeued).",
            ["task", "queue", "outcome"],
            registry=self.registry,
        )
        self.duration = prom.Histogram(
            "pgqueue_job_duration_seconds",
            "Run time of job attempts by task and queue.",
            ["task", "queue"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.active = prom.Gauge(
            "pgqueue_jobs_active", "Jobs this worker is running now.", registry=self.registry
        )
        self.active.set_function(lambda: float(active()))

    def _queue_metrics(self, prom: Any) -> None:
        self.queue_jobs = prom.Gauge(
            "pgqueue_queue_jobs",
            "Jobs per queue and state (ready, scheduled, running, retrying, dead), "
            "from pgqueue.queue_stats.",
            ["queue", "state"],
            registry=self.registry,
        )
        self.queue_lag = prom.Gauge(
            "pgqueue_queue_lag_seconds",
            "Age of the oldest ready job per queue, from pgqueue.queue_stats.",
            ["queue"],
            registry=self.registry,
        )
        # Flow control (docs/limits.md): per limit, summed over its keys (a key per tenant would
        # be a series per tenant); labels name the limits the workers registered.
        self.limit_jobs = prom.Gauge(
            "pgqueue_limit_jobs",
            "Jobs per limit (scope task or queue, limit: its name) running, waiting on it, and started in "
            "the last minute (state running, waiting, started_1m), from pgqueue.limit_stats.",
            ["scope", "limit", "state"],
            registry=self.registry,
        )
        self.limit_concurrency = prom.Gauge(
            "pgqueue_limit_concurrency",
            "The concurrency limit per key of each limit that has one, from pgqueue.limits.",
            ["scope", "limit"],
            registry=self.registry,
        )
        self.loop_stall = prom.Histogram(
            "pgqueue_event_loop_stall_seconds",
            "Stalls of this worker's event loop (an async task blocking it) of 1 s and more, "
            "by length; the heartbeat goes on from its own thread.",
            buckets=STALL_BUCKETS,
            registry=self.registry,
        )

    def _health_gauges(self, prom: Any, health: Callable[[], Health]) -> None:
        gauges = (
            (
                "pgqueue_sync_threads_abandoned",
                "Sync task threads still running after their attempt timed out or was "
                "cancelled; at max_abandoned_threads the worker stops claiming.",
                lambda: float(health().abandoned_threads),
            ),
            (
                "pgqueue_worker_claiming",
                "1 while the worker claims jobs, 0 while it holds back (abandoned threads).",
                lambda: 1.0 if health().claiming else 0.0,
            ),
            (
                "pgqueue_event_loop_blocked_seconds",
                "How long the event loop has not answered right now (0 unless stalled).",
                lambda: health().loop_blocked_seconds,
            ),
        )
        for name, documentation, read in gauges:
            gauge = prom.Gauge(name, documentation, registry=self.registry)
            gauge.set_function(read)

    def observe(self, task: str, queue: str, outcome: str, seconds: float) -> None:
        if self._known_task is not None and not self._known_task(task):
            task = UNKNOWN_TASK
        if self._queues and queue not in self._queues:
            queue = OTHER_QUEUES
        self.executions.labels(task, queue, outcome).inc()
        self.duration.labels(task, queue).observe(seconds)

    def set_queues(self, stats: Sequence[QueueStats]) -> None:
        # Cleared first so a queue that emptied out of the view stops being exported.
        self.queue_jobs.clear()
        self.queue_lag.clear()
        named, rest = self._bounded(stats)
        for q in named:
            for state in DEPTH_STATES:
                self.queue_jobs.labels(q.queue, state).set(getattr(q, state))
            self.queue_lag.labels(q.queue).set(q.lag_seconds)
        if rest:
            for state in DEPTH_STATES:
                self.queue_jobs.labels(OTHER_QUEUES, state).set(
                    sum(getattr(q, state) for q in rest)
                )
            self.queue_lag.labels(OTHER_QUEUES).set(max(q.lag_seconds for q in rest))

    def set_limits(self, stats: Sequence[LimitStats]) -> None:
        self.limit_jobs.clear()
        self.limit_concurrency.clear()
        totals: dict[tuple[str, str], dict[str, int]] = {}
        for s in stats:
            total = totals.setdefault((s.scope, s.name), dict.fromkeys(LIMIT_STATES, 0))
            for state in LIMIT_STATES:
                total[state] += getattr(s, state)
            if s.concurrency_limit is not None:
                self.limit_concurrency.labels(s.scope, s.name).set(s.concurrency_limit)
        for (scope, name), total in totals.items():
            for state, value in total.items():
                self.limit_jobs.labels(scope, name, state).set(value)

    def _bounded(self, stats: Sequence[QueueStats]) -> tuple[list[QueueStats], list[QueueStats]]:
        """The queues exported by name (served ones, then the largest others), and the rest."""
        served = [q for q in stats if q.queue in self._queues]
        others = sorted(
            (q for q in stats if q.queue not in self._queues),
            key=lambda q: (-sum(getattr(q, state) for state in DEPTH_STATES), q.queue),
        )
        return served + others[:MAX_OTHER_QUEUES], others[MAX_OTHER_QUEUES:]

    def serve(self, port: int, host: str = "0.0.0.0") -> int:
        """Start the /metrics endpoint in a thread; returns the port (useful with port 0)."""
        prom = _prometheus()
        try:
            self._server, self._thread = prom.start_http_server(port, host, registry=self.registry)
        except OSError as exc:
            raise ConfigurationError(f"cannot serve metrics on {host}:{port}: {exc}") from exc
        bound: int = self._server.server_port
        logger.info("metrics on http://%s:%d/metrics", host, bound)
        return bound

    async def close(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await asyncio.to_thread(server.shutdown)
            server.server_close()

    def exposition(self) -> str:
        """The text Prometheus would scrape (for tests and debugging)."""
        text: bytes = _prometheus().generate_latest(self.registry)
        return text.decode()
