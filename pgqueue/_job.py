"""What a job is: its states, priority levels, enqueue options and the row a worker claims."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

from pgqueue._names import (
    limit_key_problem,
    queue_name_problem,
    task_name_problem,
    unique_key_problem,
)

DEFAULT_QUEUE = "default"

# What a job waiting on parents does when one ends dead or cancelled (docs/workflows.md).
ParentFailure = Literal["cancel", "run"]


class JobState(enum.StrEnum):
    """A job's state, stored as text (guarded by a CHECK constraint, not an enum type).

    queued -> running -> succeeded | retrying | dead | cancelled; scheduled and retrying
    wait for run_at, then become queued again; waiting jobs wait for their parents
    (docs/workflows.md). See docs/states.md for the diagram.
    """

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    CANCELLED = "cancelled"
    # 0014_workflows: enqueued with parents (depends_on) that have not all finished yet.
    WAITING = "waiting"

    @property
    def is_finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.DEAD, JobState.CANCELLED)


class Priority(enum.IntEnum):
    """Named priority levels. Any int works; higher runs first."""

    LOW = -10
    NORMAL = 0
    HIGH = 10
    CRITICAL = 20


@dataclass(frozen=True, slots=True)
class JobOptions:
    """Per-enqueue options. None means "use the task's default"."""

    queue: str | None = None
    priority: int | None = None
    run_at: datetime | None = None
    delay: float | timedelta | None = None
    max_attempts: int | None = None
    unique_key: str | None = None
    limit_key: str | None = None  # flow control: counts per (task, key) (docs/limits.md)
    # 0014_workflows: the ids of the jobs this one waits for, and what a failed one means.
    depends_on: tuple[int, ...] | None = None
    on_parent_failure: ParentFailure | None = None

    def __post_init__(self) -> None:
        if self.depends_on is not None:
            object.__setattr__(self, "depends_on", parent_ids(self.depends_on))
        if self.run_at is not None and self.delay is not None:
            raise ValueError("pass either run_at or delay, not both")
        if self.run_at is not None and self.run_at.tzinfo is None:
            raise ValueError("run_at must be timezone-aware (e.g. datetime.now(UTC))")
        if self.delay_seconds is not None and not math.isfinite(self.delay_seconds):
            raise ValueError(f"delay must be a finite number of seconds, not {self.delay!r}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.queue is not None and not self.queue:
            raise ValueError("queue name must not be empty")
        if self.unique_key is not None and not self.unique_key:
            raise ValueError("unique_key must not be empty")
        if self.limit_key is not None and not self.limit_key:
            raise ValueError("limit_key must not be empty")
        _check_names(queue=self.queue, unique_key=self.unique_key, limit_key=self.limit_key)

    @property
    def delay_seconds(self) -> float | None:
        if self.delay is None:
            return None
        if isinstance(self.delay, timedelta):
            return self.delay.total_seconds()
        return float(self.delay)

    def request(
        self,
        task: str,
        args: tuple[Any, ...] | list[Any],
        kwargs: dict[str, Any],
        *,
        queue: str = DEFAULT_QUEUE,
        priority: int = 0,
        max_attempts: int | None = None,
    ) -> JobRequest:
        """A job for `task` with these options, falling back to the given (task) defaults."""
        return JobRequest(
            task=task,
            args=args,
            kwargs=kwargs,
            queue=self.queue or queue,
            priority=self.priority if self.priority is not None else priority,
            run_at=self.run_at,
            delay_seconds=self.delay_seconds,
            max_attempts=self.max_attempts or max_attempts,
            unique_key=self.unique_key,
            limit_key=self.limit_key,
            depends_on=self.depends_on or (),
            on_parent_failure=self.on_parent_failure,
        )

    def merged(self, other: JobOptions) -> JobOptions:
        """These options with every field `other` sets taking precedence."""
        run_at, delay = self.run_at, self.delay
        if other.run_at is not None or other.delay is not None:
            run_at, delay = other.run_at, other.delay
        return JobOptions(
            queue=other.queue if other.queue is not None else self.queue,
            priority=other.priority if other.priority is not None else self.priority,
            run_at=run_at,
            delay=delay,
            max_attempts=other.max_attempts
            if other.max_attempts is not None
            else self.max_attempts,
            unique_key=other.unique_key if other.unique_key is not None else self.unique_key,
            limit_key=other.limit_key if other.limit_key is not None else self.limit_key,
            depends_on=other.depends_on if other.depends_on is not None else self.depends_on,
            on_parent_failure=other.on_parent_failure or self.on_parent_failure,
        )


@dataclass(frozen=True, slots=True)
class JobRequest:
    """One job to enqueue: the task name, its arguments and resolved options."""

    task: str
    args: tuple[Any, ...] | list[Any]
    kwargs: dict[str, Any]
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    run_at: datetime | None = None
    delay_seconds: float | None = None
    max_attempts: int | None = None
    unique_key: str | None = None
    # Stored in jobs.metadata (a JSON object): the enqueuer's trace context, set by an
    # instrumentation (docs/tracing.md), or anything an integration passes to its workers.
    metadata: Mapping[str, Any] | None = None
    limit_key: str | None = None
    # 0014_workflows: parents by id, parents by 1-based position among the earlier jobs of the
    # same enqueue_many batch (how a chain or a group's callback is written in one call), and
    # what a failed parent means (None: "cancel").
    depends_on: tuple[int, ...] = ()
    depends_on_batch: tuple[int, ...] = ()
    on_parent_failure: ParentFailure | None = None

    def __post_init__(self) -> None:
        # Every enqueue path builds one of these, so no name gets past without the limits.
        if not isinstance(self.task, str) or not self.task:
            raise ValueError("a task name must not be empty")
        if not isinstance(self.queue, str) or not self.queue:
            raise ValueError("queue name must not be empty")
        if self.unique_key is not None and not self.unique_key:
            raise ValueError("unique_key must not be empty")
        if self.metadata is not None and not isinstance(self.metadata, Mapping):
            raise ValueError(f"metadata must be a mapping (a JSON object), not {self.metadata!r}")
        if self.limit_key is not None and not self.limit_key:
            raise ValueError("limit_key must not be empty")
        _check_names(
            task=self.task, queue=self.queue, unique_key=self.unique_key, limit_key=self.limit_key
        )
        if self.depends_on != ():  # () is the default, already what parent_ids returns
            object.__setattr__(self, "depends_on", parent_ids(self.depends_on))
        if self.unique_key is not None and (self.depends_on or self.depends_on_batch):
            raise ValueError(
                "unique_key and depends_on cannot be combined: a job waiting on its parents "
                "does not hold a unique key"
            )
        if self.on_parent_failure not in (None, "cancel", "run"):
            raise ValueError(
                f"on_parent_failure must be 'cancel' or 'run', not {self.on_parent_failure!r}"
            )

    @property
    def has_parents(self) -> bool:
        return bool(self.depends_on or self.depends_on_batch)

    def as_json_object(self) -> dict[str, Any]:
        """The job as pgqueue.enqueue_many expects it; times stay with the database."""
        job: dict[str, Any] = {
            "task": self.task,
            "args": self.args,
            "kwargs": self.kwargs,
            "queue": self.queue,
            "priority": self.priority,
        }
        if self.run_at is not None:
            job["run_at"] = self.run_at.isoformat()
        if self.delay_seconds is not None:
            job["delay"] = self.delay_seconds
        if self.max_attempts is not None:
            job["max_attempts"] = self.max_attempts
        if self.unique_key is not None:
            job["unique_key"] = self.unique_key
        if self.metadata:
            job["metadata"] = self.metadata
        if self.limit_key is not None:
            job["limit_key"] = self.limit_key
        if self.depends_on:
            job["depends_on"] = list(self.depends_on)
        if self.depends_on_batch:
            job["depends_on_batch"] = list(self.depends_on_batch)
        if self.on_parent_failure is not None:
            job["on_parent_failure"] = self.on_parent_failure
        return job


def parent_ids(ids: Any) -> tuple[int, ...]:
    """depends_on as a tuple of job ids; anything else is a clear error, not a database one."""
    if isinstance(ids, int | str | bytes):
        raise TypeError(f"depends_on takes a list of job ids, not {ids!r}")
    found = tuple(ids)
    for job_id in found:
        if isinstance(job_id, bool) or not isinstance(job_id, int) or job_id < 1:
            raise TypeError(f"depends_on takes job ids (positive ints), not {job_id!r}")
    return found


def _check_names(
    *,
    task: str | None = None,
    queue: str | None = None,
    unique_key: str | None = None,
    limit_key: str | None = None,
) -> None:
    """ValueError naming the field and its limit (pgqueue._names) for the first bad one given
    (one test after another: every enqueue passes here, a loop over pairs cost a third more)."""
    problem = None if task is None else task_name_problem(task)
    if problem is None and queue is not None:
        problem = queue_name_problem(queue)
    if problem is None and unique_key is not None:
        problem = unique_key_problem(unique_key)
    if problem is None and limit_key is not None:
        problem = limit_key_problem(limit_key)
    if problem is not None:
        raise ValueError(problem)


# The options of a call that gives none: built and checked once.
NO_OPTIONS = JobOptions()


def job_options(
    queue: str | None,
    priority: int | None,
    run_at: datetime | None,
    delay: float | timedelta | None,
    max_attempts: int | None,
    unique_key: str | None,
    limit_key: str | None,
    depends_on: Sequence[int] | None,
    on_parent_failure: ParentFailure | None,
) -> JobOptions:
    """The options of an `App.request`, `App.enqueue` or `Task.using` call: `NO_OPTIONS` when
    none is given (the common call: no JobOptions to build and check, a registered task's own
    defaults as they are, issue 18 goal 1)."""
    if (
        queue is None
        and priority is None
        and run_at is None
        and delay is None
        and max_attempts is None
        and unique_key is None
        and limit_key is None
        and depends_on is None
        and on_parent_failure is None
    ):
        return NO_OPTIONS
    return JobOptions(
        queue=queue,
        priority=priority,
        run_at=run_at,
        delay=delay,
        max_attempts=max_attempts,
        unique_key=unique_key,
        limit_key=limit_key,
        depends_on=None if depends_on is None else parent_ids(depends_on),
        on_parent_failure=on_parent_failure,
    )


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job a worker has claimed: the row as the claim statement returned it."""

    id: int
    task: str
    queue: str
    args: str
    kwargs: str
    priority: int
    attempts: int
    max_attempts: int | None
    enqueued_at: datetime
    metadata: str = "{}"  # JSON text: decoded only by an instrumented worker (pgqueue._hooks)
    run_at: datetime | None = None  # the plain claims return it (the limited one does not)

    @property
    def claim_key(self) -> ClaimKey | None:
        """Where this job stands in claim order, (priority DESC, run_at, id); None without
        run_at."""
        return None if self.run_at is None else ClaimKey(self.priority, self.run_at, self.id)


class ClaimKey(NamedTuple):
    """A job's place in claim order: priority DESC, then run_at, then id (jobs_claim_idx).
    `precedes(other)`: this job is claimed before `other`."""

    priority: int
    run_at: datetime
    id: int

    def precedes(self, other: ClaimKey) -> bool:
        return (-self.priority, self.run_at, self.id) < (-other.priority, other.run_at, other.id)


@dataclass(frozen=True, slots=True)
class JobInfo:
    """Everything stored about a job, for lookups and operators."""

    id: int
    task: str
    queue: str
    state: JobState
    priority: int
    args: Any
    kwargs: Any
    attempts: int
    max_attempts: int | None
    run_at: datetime
    enqueued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result: Any
    errors: list[dict[str, Any]] = field(default_factory=list)
    worker_id: str | None = None
    unique_key: str | None = None
    progress: Any = None
    # 0014_workflows: the jobs this one waits for (in their order) and the jobs waiting on it.
    parents: tuple[int, ...] = ()
    children: tuple[int, ...] = ()

    @property
    def last_error(self) -> dict[str, Any] | None:
        return self.errors[-1] if self.errors else None
