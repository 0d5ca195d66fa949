"""Workflows: a chain (each job waits for the one before it) and a group with a callback (the
callback waits for every member), written as one enqueue_many batch.

Each job's parents inside the batch are named by position (`JobRequest.depends_on_batch`), so the
whole workflow is one statement and one round trip, and with `connection=` it commits or rolls
back with the caller's transaction: the order, the members and the follow-up all exist, or none
does. The database does the rest (pgqueue.resolve_waiting(), docs/workflows.md): no polling.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pgqueue._job import JobRequest
from pgqueue._registry import Enqueuer


def _fresh(jobs: Iterable[JobRequest]) -> tuple[JobRequest, ...]:
    """The jobs, checked: positions are relative to one batch, so a job already wired into
    another batch cannot join this one."""
    found = tuple(jobs)
    for job in found:
        if not isinstance(job, JobRequest):
            raise TypeError(f"a workflow takes jobs from task.job(...), not {job!r}")
        if job.depends_on_batch:
            raise ValueError(f"job {job.task} already belongs to another workflow")
    if not found:
        raise ValueError("a workflow needs at least one job")
    return found


@dataclass(frozen=True, slots=True)
class Workflow:
    """Jobs to enqueue together, parents before children; `enqueue()` returns their ids in the
    order given (a group's callback last)."""

    jobs: tuple[JobRequest, ...]
    _enqueuer: Enqueuer

    async def enqueue(self, *, connection: Any = None) -> list[int]:
        """Write every job in one round trip; with `connection` (asyncpg, SQLAlchemy
        AsyncSession/AsyncConnection) inside the caller's transaction."""
        done = await self._enqueuer.enqueue_requests(self.jobs, connection=connection)
        return [d.id for d in done]

    def enqueue_sync(self, *, connection: Any) -> list[int]:
        """`enqueue` through a SQLAlchemy Session or Connection, in its transaction."""
        done = self._enqueuer.enqueue_requests_sync(self.jobs, connection=connection)
        return [d.id for d in done]


@dataclass(frozen=True, slots=True)
class Group(Workflow):
    """Jobs that run independently (no order among them); `.then(callback)` adds one job that
    waits for all of them and reads their results, in this order, with
    `current_job().parent_results()`."""

    def then(self, callback: JobRequest) -> Workflow:
        [callback] = _fresh([callback])
        positions = tuple(range(1, len(self.jobs) + 1))
        return Workflow((*self.jobs, replace(callback, depends_on_batch=positions)), self._enqueuer)


def chain(enqueuer: Enqueuer, jobs: Sequence[JobRequest]) -> Workflow:
    """Each job waits for the one before it (which it reads as its only parent result)."""
    found = _fresh(jobs)
    linked = [found[0]] + [
        replace(job, depends_on_batch=(n,)) for n, job in enumerate(found[1:], 1)
    ]
    return Workflow(tuple(linked), enqueuer)


def group(enqueuer: Enqueuer, jobs: Iterable[JobRequest]) -> Group:
    return Group(_fresh(jobs), enqueuer)
