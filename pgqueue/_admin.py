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
    """Which dead letters an action applies to; every field that is set must match: the ids,
    the task, the queue, the `kind` of the last error (exception, timeout, worker_lost,
    payload, ...), died at or before `died_before` and after `died_after`.

    `died_before` defaults to the moment the action starts, so a job that dies again while a
    requeue runs is not picked up twice."""

    ids: Sequence[int] | None = None
    queue: str | None = None
    task: str | None = None
    died_before: datetime | None = None
    error_kind: str | None = None
    died_after: datetime | None = None

    @property
    def is_everything(self) -> bool:
        """No filter at all: every dead letter (callers ask for it explicitly, `--all`)."""
        fields = (self.ids, self.queue, self.task, self.died_before, self.error_kind)
        return all(f is None for f in (*fields, self.died_after))

    def checked(self, all_dead: bool) -> DeadLetterFilter:
        """This filter, if it names something or `all_dead` asks for everything (the SQL
        functions refuse a bare call the same way): never every dead letter by accident."""
        if self.is_everything and not all_dead:
            raise ValueError(
                "name ids, task, queue, error_kind, died_before or died_after, or pass "
                "all_dead=True to act on every dead letter"
            )
        if all_dead and not self.is_everything:
            raise ValueError("all_dead=True cannot be combined with a filter")
        return self


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
        """Put matching dead letters back in the queue with fresh attempts; returns how many.
        Batches of pgqueue.requeue_dead until one requeues none (a batch can requeue fewer than
        it examined: of dead jobs sharing a unique key, one)."""
        scope = await self._scope(which)
        total = 0
        while requeued := await self.repository.requeue_dead(scope, batch_size):
            total += requeued
            await asyncio.sleep(0)
        return total

    async def purge_dead(self, which: DeadLetterFilter, *, batch_size: int = DEFAULT_BATCH) -> int:
        """Delete matching dead letters (batches of pgqueue.purge_dead); returns how many."""
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
        # Never later than now: a job requeued by this action that dies again is not taken again.
        now = await self.now()
        before = now if which.died_before is None else min(which.died_before, now)
        return DeadLetterScope(
            _ids(which.ids), which.task, which.queue, which.error_kind, before, which.died_after
        )


def _ids(ids: Sequence[int] | None) -> list[int] | None:
    return None if ids is None else list(ids)
