"""Operator actions on jobs: cancel, retry, requeue or purge dead letters.

Each is one named query; the ones that can touch many rows run in batches of short
transactions (never a long transaction, never a table lock) until nothing is left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pgqueue import retention
from pgqueue.job import JobState
from pgqueue.repository import Repository, translated
from pgqueue.sql import query

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
        with translated(self.repository.dsn):
            rows = await self.repository.pool.fetch(
                query("job_cancel_waiting"), list(job_ids), message
            )
        return [r["id"] for r in rows]

    async def retry(self, job_ids: Sequence[int]) -> list[int]:
        """Queue the given dead, cancelled or waiting-to-retry jobs to run now; returns the ids."""
        with translated(self.repository.dsn):
            rows = await self.repository.pool.fetch(query("job_retry"), list(job_ids))
        return [r["id"] for r in rows]

    async def requeue_dead(
        self, which: DeadLetterFilter, *, batch_size: int = DEFAULT_BATCH
    ) -> int:
        """Put matching dead letters back in the queue with fresh attempts; returns how many."""
        before = which.died_before or await self.now()
        total = 0
        while True:
            with translated(self.repository.dsn):
                row = await self.repository.pool.fetchrow(
                    query("job_requeue_dead"),
                    _ids(which.ids),
                    which.queue,
                    which.task,
                    before,
                    batch_size,
                )
            assert row is not None
            total += int(row["requeued"])
            if int(row["examined"]) < batch_size or int(row["requeued"]) == 0:
                return total
            await asyncio.sleep(0)

    async def purge_dead(self, which: DeadLetterFilter, *, batch_size: int = DEFAULT_BATCH) -> int:
        """Delete matching dead letters; returns how many."""
        before = which.died_before or await self.now()
        total = 0
        while True:
            with translated(self.repository.dsn):
                deleted = await self.repository.pool.fetchval(
                    query("job_purge_dead"),
                    _ids(which.ids),
                    which.queue,
                    which.task,
                    before,
                    batch_size,
                )
            total += int(deleted)
            if deleted < batch_size:
                return total
            await asyncio.sleep(0)

    async def count_dead(self, which: DeadLetterFilter) -> int:
        """How many dead letters `which` matches (what purge_dead would delete)."""
        before = which.died_before or await self.now()
        with translated(self.repository.dsn):
            n = await self.repository.pool.fetchval(
                query("job_count_dead"), _ids(which.ids), which.queue, which.task, before
            )
        return int(n)

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
        with translated(self.repository.dsn):
            value: datetime = await self.repository.pool.fetchval(query("db_now"))
        return value


def _ids(ids: Sequence[int] | None) -> list[int] | None:
    return None if ids is None else list(ids)
