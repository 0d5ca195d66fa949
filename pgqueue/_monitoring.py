"""Read-only answers for operators: the monitoring views and job lookups as dataclasses.

`pgqueue status`, the other CLI commands, the metrics endpoint and the tests all read through
here, so psql, the terminal and Prometheus see the same numbers. `as_json()` gives the stable
JSON documented in docs/operations.md.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pgqueue import _serialization as serialization
from pgqueue._job import JobInfo, JobState
from pgqueue._periodic import PeriodicSchedule
from pgqueue._repository import Repository

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class QueueStats:
    """A row of pgqueue.queue_stats."""

    queue: str
    ready: int
    scheduled: int
    running: int
    retrying: int
    dead: int
    succeeded_5m: int
    failed_5m: int
    oldest_ready_at: datetime | None
    lag_seconds: float
    # 0014_workflows: jobs waiting on their parents (docs/workflows.md).
    waiting: int = 0


@dataclass(frozen=True, slots=True)
class WorkerRow:
    """A row of pgqueue.worker_stats (needs the workers table)."""

    id: str
    hostname: str
    pid: int
    queues: list[str]
    concurrency: int
    state: str
    started_at: datetime
    last_heartbeat: datetime
    heartbeat_age_seconds: float
    alive: bool
    processed: int
    failed: int
    active: int
    running_jobs: int
    version: str | None
    # 0005_worker_health: as the worker last reported it (docs/reliability.md).
    abandoned_threads: int = 0
    claiming: bool = True
    loop_stall_seconds: float = 0.0
    loop_stalls: int = 0
    healthy: bool = True
    # Seconds since it started (until it stopped, or its last heartbeat when lost).
    uptime_seconds: float = 0.0

    @property
    def health(self) -> str:
        """One phrase for people: "ok", or what is wrong."""
        problems = []
        if not self.alive:
            problems.append("not alive")
        if not self.claiming:
            problems.append(f"not claiming: {self.abandoned_threads} abandoned sync threads")
        if self.loop_stall_seconds:
            problems.append(f"event loop blocked {self.loop_stall_seconds:.0f}s")
        return "; ".join(problems) or "ok"


@dataclass(frozen=True, slots=True)
class TaskThroughput:
    """A row of pgqueue.task_throughput: one minute of one task in one queue."""

    minute: datetime
    queue: str
    task: str
    finished: int
    succeeded: int
    failed: int
    cancelled: int
    retries: int
    failure_rate: float


@dataclass(frozen=True, slots=True)
class TaskRuntime:
    """A row of pgqueue.task_runtimes: run-time percentiles of one task over the last hour."""

    task: str
    jobs: int
    p50_seconds: float
    p90_seconds: float
    p95_seconds: float
    p99_seconds: float
    max_seconds: float
    mean_seconds: float


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A row of pgqueue.dead_letters."""

    id: int
    queue: str
    task: str
    args: Any
    kwargs: Any
    attempts: int
    max_attempts: int | None
    unique_key: str | None
    enqueued_at: datetime
    died_at: datetime | None
    error_type: str | None
    error_message: str | None
    last_error: Any


@dataclass(frozen=True, slots=True)
class JobSummary:
    """One line of `pgqueue jobs list`."""

    id: int
    task: str
    queue: str
    state: str
    priority: int
    attempts: int
    max_attempts: int | None
    run_at: datetime
    enqueued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    unique_key: str | None
    error_type: str | None
    error_message: str | None


@dataclass(frozen=True, slots=True)
class LimitStats:
    """A row of pgqueue.limit_stats: one limit (a task's or a queue's) and one key of it
    (docs/limits.md)."""

    scope: str
    name: str
    key: str
    concurrency_limit: int | None
    rate_count: int | None
    rate_seconds: float | None
    running: int
    waiting: int
    started_1m: int
    tokens: float | None

    @property
    def rate_limit(self) -> str | None:
        """The rate as it was declared ("20/s"), or None."""
        if self.rate_count is None or self.rate_seconds is None:
            return None
        unit = {1.0: "s", 60.0: "m", 3600.0: "h"}.get(self.rate_seconds)
        return f"{self.rate_count}/{unit}" if unit else f"{self.rate_count}/{self.rate_seconds}s"


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    """A periodic schedule as registered by the workers, with its next run."""

    name: str
    task: str
    cron: str
    timezone: str
    registered_at: datetime
    updated_at: datetime
    last_tick: datetime | None
    next_run: datetime | None


@dataclass(frozen=True, slots=True)
class UnservedTask:
    """Jobs of a task waiting in a queue that live workers serve, none of which serves the task
    (as the workers report their tasks, revision 0010_worker_tasks)."""

    queue: str
    task: str
    jobs: int

    def line(self) -> str:
        return (
            f"task {self.task} (queue {self.queue}): {self.jobs} waiting jobs and no live worker "
            f"of the queue serves the task (check the task name, or import its module in the "
            f"worker: `pgqueue worker MODULE:APP --import MODULE`)"
        )


@dataclass(frozen=True, slots=True)
class TaskCoverage:
    """Of the live running workers serving a queue: how many, how many serve a given task,
    how many do not say which tasks they serve (started before 0010_worker_tasks)."""

    serving: int
    knowing: int
    unknown: int

    def warning(self, task: str, queue: str) -> str | None:
        """One line for `pgqueue enqueue` when no live worker serves `task` on `queue`."""
        if self.knowing or self.unknown:
            return None
        if not self.serving:
            return (
                f"warning: no live worker serves queue {queue!r}, so task {task!r} waits until "
                f"one starts (`pgqueue worker MODULE:APP --queue {queue}`)"
            )
        return (
            f"warning: no live worker of queue {queue!r} serves task {task!r} "
            f"({self.serving} serve other tasks): check the task name, or import its module in "
            "the worker (`pgqueue worker MODULE:APP --import MODULE`); the job waits until then"
        )


@dataclass(frozen=True, slots=True)
class Status:
    """What `pgqueue status` shows. `workers` is None where pgqueue.worker_stats is missing."""

    queues: list[QueueStats]
    workers: list[WorkerRow] | None
    unserved_tasks: list[UnservedTask] = dataclasses.field(default_factory=list)
    limits: list[LimitStats] = dataclasses.field(default_factory=list)

    @property
    def max_lag(self) -> float:
        return max((q.lag_seconds for q in self.queues), default=0.0)

    @property
    def dead(self) -> int:
        return sum(q.dead for q in self.queues)

    @property
    def unserved(self) -> list[str]:
        """Queues with ready jobs that no live running worker serves: those jobs wait until
        one starts. Empty where workers are not tracked (the schema has no workers table)."""
        if self.workers is None:
            return []
        served = {q for w in self.workers if w.alive and w.state == "running" for q in w.queues}
        return [q.queue for q in self.queues if q.ready and q.queue not in served]


def as_json(value: Any) -> Any:
    """Dataclasses, lists and datetimes as JSON-ready values (ISO 8601 times)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _rows(cls: type[T], rows: Sequence[Any]) -> list[T]:
    return [cls(**dict(row)) for row in rows]


class Monitor:
    """The monitoring views and job lookups over an App's repository."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository

    async def now(self) -> datetime:
        return await self.repository.db_now()

    async def schema_revision(self) -> str | None:
        """The Alembic revision of the pgqueue schema; None if it was never migrated."""
        return await self.repository.schema_revision()

    async def queues(self, names: Sequence[str] | None = None) -> list[QueueStats]:
        stats = _rows(QueueStats, await self.repository.queue_stats())
        return [q for q in stats if not names or q.queue in names]

    async def workers(self) -> list[WorkerRow] | None:
        """Workers from pgqueue.worker_stats; None when the view does not exist (it needs the
        workers table of revision 0002)."""
        if not await self.repository.worker_stats_present():
            return None
        return _rows(WorkerRow, await self.repository.worker_stats())

    async def worker_list(self, *, include_stopped: bool = False) -> list[dict[str, Any]]:
        """The rows of `pgqueue workers`: running and stopping workers, or all of them."""
        return await self.repository.list_workers(include_stopped)

    async def job_states(self, job_ids: Sequence[int]) -> dict[int, JobState]:
        """The state of each given job that exists."""
        return await self.repository.job_states(job_ids)

    async def unregistered_tasks(
        self, queues: Sequence[str], registered: Sequence[str]
    ) -> dict[str, int]:
        """Tasks with jobs waiting on `queues` that are not in `registered`, with their job
        counts (at most 20 names): what a worker serving those queues could not run."""
        return await self.repository.waiting_unregistered(queues, registered)

    async def status(self, queues: Sequence[str] | None = None) -> Status:
        workers = await self.workers()
        unserved = [] if workers is None else await self.unserved_tasks()
        return Status(
            await self.queues(queues),
            workers,
            [u for u in unserved if not queues or u.queue in queues],
            await self.limits(),
        )

    async def limits(self) -> list[LimitStats]:
        """Every limit, per key, with its running, waiting and recent counts (docs/limits.md)."""
        return _rows(LimitStats, await self.repository.limit_stats())

    async def unserved_tasks(self, limit: int = 20) -> list[UnservedTask]:
        """Tasks with waiting jobs in a served queue that no live worker of it serves; none
        where the workers do not record their tasks (a schema before 0010_worker_tasks)."""
        if not await self.repository.worker_tasks_present():
            return []
        return _rows(UnservedTask, await self.repository.unserved_tasks(limit))

    async def task_coverage(self, queue: str, task: str) -> TaskCoverage:
        """Which live workers of `queue` serve `task` (for `pgqueue enqueue`'s warning)."""
        return TaskCoverage(*await self.repository.task_coverage(queue, task))

    async def throughput(self) -> list[TaskThroughput]:
        return _rows(TaskThroughput, await self.repository.task_throughput())

    async def runtimes(self) -> list[TaskRuntime]:
        return _rows(TaskRuntime, await self.repository.task_runtimes())

    async def dead_letters(
        self, *, queue: str | None = None, task: str | None = None, limit: int = 50
    ) -> list[DeadLetter]:
        rows = await self.repository.list_dead_letters(queue, task, limit)
        return [
            DeadLetter(
                **{
                    **dict(r),
                    "args": serialization.loads(r["args"]),
                    "kwargs": serialization.loads(r["kwargs"]),
                    "last_error": serialization.loads(r["last_error"]),
                }
            )
            for r in rows
        ]

    async def jobs(
        self,
        *,
        queue: str | None = None,
        task: str | None = None,
        states: Sequence[JobState | str] | None = None,
        limit: int = 50,
    ) -> list[JobSummary]:
        state_list = [JobState(s).value for s in states] if states else None
        rows = await self.repository.list_jobs(queue, task, state_list, limit)
        return _rows(JobSummary, rows)

    async def job(self, job_id: int) -> JobInfo | None:
        return await self.repository.get_job(job_id)

    async def schedules(self) -> list[ScheduleRow]:
        now = await self.now()
        result = []
        for row in await self.repository.list_schedules():
            result.append(ScheduleRow(**dict(row), next_run=_next_run(row, now)))
        return result


def _next_run(row: Any, now: datetime) -> datetime | None:
    """When the schedule's next tick falls, by its stored cron (no app needed)."""
    try:
        schedule = PeriodicSchedule(
            name=row["name"], task=row["task"], cron=row["cron"], timezone=row["timezone"]
        )
    except Exception:  # a schedule stored by a newer pgqueue this one cannot read
        return None
    after = now if row["last_tick"] is None else max(now, row["last_tick"])
    return schedule.next_tick(after).astimezone(now.tzinfo)
