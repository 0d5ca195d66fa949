"""Operator actions on jobs: cancel, retry, requeue or purge dead letters.

Each is one named query; the ones that can touch many rows run in batches of short
transactions (never a long transaction, never a table lock) until nothing is left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pgqueue import _retention as retention
from pgqueue._job import JobState
from pgqueue._repository import DeadLetterScope, Repository

DEFAULT_BATCH = 1000
CANCEL_MESSAGE = "cancelled by an operator"


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    """Which dead letters an action applies to; every field that is set must match.

    `died_before` defaults to the moment the action starts, so a job that dies again while a
    requeue runs is not picked up twice."""

    ids: Sequence[int] | None = None
    queue: str | None = None
    task: str | None = None
    died_before: datetime | None = None

    @property
    def is_everything(self) -> bool:
        return self.ids is None and self.queue is None and self.task is None


class Admin:
    """Operator actions over an App's repository."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository

    async def cancel(self, job_ids: Sequence[int], message: str = CANCEL_MESSAGE) -> list[int]:
        """Cancel the given jobs that are not running yet; returns the ids cancelled."""
        return await self.repository.cancel_waiting(job_ids, message)

    async def retry(self, job_ids: Sequence[int]) -> list[int]:
        """Queue the given dead, cancelled or waiting-to-retry jobs to run now; returns the ids."""
        return await self.repository.retry_jobs(job_ids)

    async def requeue_dead(
        self, which: DeadLetterFilter, *, batch_size: int = DEFAULT_BATCH
    ) -> int:
        """Put matching dead letters back in the queue with fresh attempts; returns how many."""
        scope = await self._scope(which)
        total = 0
        while True:
            requeued, examined = await self.repository.requeue_dead(scope, batch_size)
            total += requeued
            if examined < batch_size or requeued == 0:
                return total
            await asyncio.sleep(0)

    async def purge_dead(self, which: DeadLetterFilter, *, batch_size: int = DEFAULT_BATCH) -> int:
        """Delete matching dead letters; returns how many."""
        scope = await self._scope(which)
        total = 0
        while True:
            deleted = await self.repository.purge_dead(scope, batch_size)
            total += deleted
            if deleted < batch_size:
                return total
            await asyncio.sleep(0)

    async def count_dead(self, which: DeadLetterFilter) -> int:
        """How many dead letters `which` matches (what purge_dead would delete)."""
        return await self.repository.count_dead(await self._scope(which))

    async def prune(
        self, state: JobState | str, older_than: float, *, batch_size: int = DEFAULT_BATCH
    ) -> int:
        """Delete jobs in the finished `state` that finished more than `older_than` seconds ago,
        in batches; returns how many."""
        return await retention.prune(self.repository, state, older_than, batch_size=batch_size)

    async def count_prunable(self, state: JobState | str, older_than: float) -> int:
        """How many jobs `prune` would delete now."""
        return await retention.count_prunable(self.repository, state, older_than)

    async def now(self) -> datetime:
        return await self.repository.db_now()

    async def _scope(self, which: DeadLetterFilter) -> DeadLetterScope:
        """The filter as the queries take it, its cut-off fixed now (the database's time)."""
        before = which.died_before or await self.now()
        return DeadLetterScope(_ids(which.ids), which.queue, which.task, before)


def _ids(ids: Sequence[int] | None) -> list[int] | None:
    return None if ids is None else list(ids)
