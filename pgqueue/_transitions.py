"""Every change of a job's state, by name, with the state it leads to.

Two kinds live here. The ends of an attempt (`succeeded`, `retry`, `dead`, `cancelled`,
`interrupted`) are values: the executor or the worker builds one with the constructors below, the
worker buffers it, and job_complete_many.sql applies its target state as given, only while the job
is still `running` in the attempt that produced it. The others happen inside the database
(enqueue, claim, promotion, rescue, release, cancel of a waiting job, an operator's retry or
requeue, the resolution of a job waiting on its parents): `CATALOGUE` names each with its target states and the file that writes it, and
docs/states.md lists the same rows (tests/unit/test_state_writers.py keeps the two, and the SQL
that writes `jobs.state`, in agreement).

Retry timing is decided in one place: `retry()` here turns the delay the task's RetryPolicy
(pgqueue/_retry.py) or its `Retry(delay)` chose into a target state and a `run_in`; the SQL only
adds `run_in` to the database's `now()`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from pgqueue import _serialization as serialization
from pgqueue._job import JobState


class Name(enum.StrEnum):
    """The name of each transition (docs/states.md has the diagram and the writers)."""

    ENQUEUED = "enqueued"
    PROMOTED = "promoted"
    CLAIMED = "claimed"
    SUCCEEDED = "succeeded"
    RETRY = "retry"
    DEAD = "dead"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    RELEASED = "released"
    RESCUED = "rescued"
    CANCELLED_WAITING = "cancelled_waiting"
    RETRIED = "retried"
    REQUEUED_DEAD = "requeued_dead"
    # 0014_workflows (docs/workflows.md): a waiting job's parents decided its fate.
    RESOLVED = "resolved"
    PARENT_FAILED = "parent_failed"


# The label each end of an attempt has in pgqueue_job_executions_total (docs/metrics.md): the
# words that metric has always used, so dashboards keep working.
_METRIC_LABELS = {
    Name.SUCCEEDED: "succeeded",
    Name.RETRY: "retrying",
    Name.DEAD: "dead",
    Name.CANCELLED: "cancelled",
    Name.INTERRUPTED: "requeued",
}


@dataclass(frozen=True, slots=True)
class Transition:
    """The end of one attempt of one job: what job_complete_many.sql writes.

    `target` is the state written (unless a cancel was requested meanwhile: a job that would run
    again ends `cancelled` instead, a database fact only the SQL sees). `run_in` sets
    run_at = now() + run_in seconds (database time); None keeps run_at. `refund_attempt` gives the
    attempt back (it was interrupted, not failed)."""

    name: Name
    job_id: int
    attempt: int
    target: JobState
    result_json: str | None = None
    error: dict[str, Any] | None = None
    run_in: float | None = None
    refund_attempt: bool = False

    @property
    def error_json(self) -> str | None:
        return None if self.error is None else serialization.dumps(self.error, what="error")

    @property
    def metric_label(self) -> str:
        return _METRIC_LABELS[self.name]


def succeeded(job_id: int, attempt: int, result_json: str) -> Transition:
    return Transition(Name.SUCCEEDED, job_id, attempt, JobState.SUCCEEDED, result_json=result_json)


def retry(job_id: int, attempt: int, delay: float, error: dict[str, Any]) -> Transition:
    """Run again after `delay` seconds: `retrying` until promotion, or `queued` at once when the
    delay is zero or less (no promotion wait)."""
    run_in = max(0.0, delay)
    target = JobState.RETRYING if run_in > 0 else JobState.QUEUED
    return Transition(Name.RETRY, job_id, attempt, target, error=error, run_in=run_in)


def dead(job_id: int, attempt: int, error: dict[str, Any]) -> Transition:
    """Dead-lettered; `error["kind"]` says why (outcome.error_info)."""
    return Transition(Name.DEAD, job_id, attempt, JobState.DEAD, error=error)


def cancelled(job_id: int, attempt: int, error: dict[str, Any] | None = None) -> Transition:
    return Transition(Name.CANCELLED, job_id, attempt, JobState.CANCELLED, error=error)


def interrupted(job_id: int, attempt: int, error: dict[str, Any]) -> Transition:
    """A worker shutdown stopped the attempt: back in the queue, the attempt not counted."""
    return Transition(
        Name.INTERRUPTED, job_id, attempt, JobState.QUEUED, error=error, refund_attempt=True
    )


@dataclass(frozen=True, slots=True)
class Edge:
    """One named transition as the database applies it: from which states, to which, by whom."""

    name: Name
    sources: tuple[JobState, ...]
    targets: tuple[JobState, ...]
    writer: str  # the .sql file, or the SQL function, that writes it


_WAITING = (JobState.SCHEDULED, JobState.QUEUED, JobState.RETRYING, JobState.WAITING)
_RUNNING = (JobState.RUNNING,)

CATALOGUE: tuple[Edge, ...] = (
    Edge(
        Name.ENQUEUED,
        (),
        (JobState.SCHEDULED, JobState.QUEUED, JobState.WAITING),
        "pgqueue.enqueue_many()",
    ),
    # 0015_enqueue_fast: one job without parents, the same row (never waiting).
    Edge(Name.ENQUEUED, (), (JobState.SCHEDULED, JobState.QUEUED), "pgqueue.enqueue_one()"),
    # 0017_enqueue_batch: a batch without unique keys or parents, the same rows (never waiting).
    Edge(Name.ENQUEUED, (), (JobState.SCHEDULED, JobState.QUEUED), "pgqueue.enqueue_batch()"),
    # One keyless job by a role that may insert itself (Jobs._insert_one), the same row.
    Edge(Name.ENQUEUED, (), (JobState.SCHEDULED, JobState.QUEUED), "job_insert_one.sql"),
    # A job without options by such a role (Jobs._insert_plain): queued now, the same row.
    Edge(Name.ENQUEUED, (), (JobState.QUEUED,), "job_insert_plain.sql"),
    # A keyless batch without parents by a role that may insert itself (Jobs._insert_batch).
    Edge(Name.ENQUEUED, (), (JobState.SCHEDULED, JobState.QUEUED), "job_insert_batch.sql"),
    Edge(
        Name.PROMOTED,
        (JobState.SCHEDULED, JobState.RETRYING),
        (JobState.QUEUED,),
        "job_promote_due.sql",
    ),
    Edge(Name.CLAIMED, (JobState.QUEUED,), _RUNNING, "job_claim.sql"),
    # The same claim, its scan after the keys of the last jobs claimed (pgqueue/_claim_cursor.py).
    Edge(Name.CLAIMED, (JobState.QUEUED,), _RUNNING, "job_claim_after.sql"),
    Edge(Name.CLAIMED, (JobState.QUEUED,), _RUNNING, "pgqueue.claim_limited()"),
    Edge(Name.SUCCEEDED, _RUNNING, (JobState.SUCCEEDED,), "job_complete_many.sql"),
    Edge(Name.RETRY, _RUNNING, (JobState.RETRYING, JobState.QUEUED), "job_complete_many.sql"),
    Edge(Name.DEAD, _RUNNING, (JobState.DEAD,), "job_complete_many.sql"),
    Edge(Name.CANCELLED, _RUNNING, (JobState.CANCELLED,), "job_complete_many.sql"),
    Edge(Name.INTERRUPTED, _RUNNING, (JobState.QUEUED,), "job_complete_many.sql"),
    Edge(Name.RELEASED, _RUNNING, (JobState.QUEUED,), "job_release_unclaimed.sql"),
    Edge(
        Name.RESCUED,
        _RUNNING,
        (JobState.QUEUED, JobState.DEAD, JobState.CANCELLED),
        "job_rescue.sql",
    ),
    Edge(Name.CANCELLED_WAITING, _WAITING, (JobState.CANCELLED,), "pgqueue.cancel()"),
    Edge(Name.CANCELLED_WAITING, _WAITING, (JobState.CANCELLED,), "job_cancel_waiting.sql"),
    Edge(
        Name.RETRIED,
        (JobState.DEAD, JobState.CANCELLED, JobState.RETRYING),
        (JobState.QUEUED,),
        "job_retry.sql",
    ),
    Edge(Name.REQUEUED_DEAD, (JobState.DEAD,), (JobState.QUEUED,), "pgqueue.requeue_dead()"),
    Edge(
        Name.RESOLVED,
        (JobState.WAITING,),
        (JobState.QUEUED, JobState.SCHEDULED),
        "pgqueue.resolve_waiting()",
    ),
    Edge(
        Name.PARENT_FAILED,
        (JobState.WAITING,),
        (JobState.CANCELLED,),
        "pgqueue.resolve_waiting()",
    ),
)
