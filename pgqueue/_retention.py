"""Retention: finished jobs are deleted once older than their state's retention time, in bounded
batches of short transactions (no long transaction holding back vacuum, no table lock).

The elected maintenance worker runs `prune_expired` every prune_interval; `pgqueue prune` runs
`prune` once by hand.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from pgqueue._job import JobState
from pgqueue._repository import Repository
from pgqueue.settings import WorkerSettings

logger = logging.getLogger("pgqueue.retention")

FINISHED_STATES = (JobState.SUCCEEDED, JobState.CANCELLED, JobState.DEAD)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Seconds each finished state is kept; None keeps it until deleted by hand."""

    succeeded: float | None = 86400.0
    cancelled: float | None = 7 * 86400.0
    dead: float | None = None

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> RetentionPolicy:
        return cls(
            succeeded=settings.retention_succeeded,
            cancelled=settings.retention_cancelled,
            dead=settings.retention_dead,
        )

    def items(self) -> list[tuple[JobState, float]]:
        kept = {
            JobState.SUCCEEDED: self.succeeded,
            JobState.CANCELLED: self.cancelled,
            JobState.DEAD: self.dead,
        }
        return [(state, age) for state, age in kept.items() if age is not None]


async def prune(
    repository: Repository,
    state: JobState | str,
    older_than: float,
    *,
    batch_size: int = 1000,
    keep_going: Callable[[], bool] = lambda: True,
) -> int:
    """Delete jobs in finished `state` that finished more than `older_than` seconds ago;
    returns how many. Stops early when `keep_going()` turns false (leadership lost)."""
    state = JobState(state)
    if not state.is_finished:
        raise ValueError(f"only finished jobs can be pruned, not {state.value!r}")
    total = 0
    while keep_going():
        deleted = await repository.prune_jobs(state, older_than, batch_size)
        total += deleted
        if deleted < batch_size:
            break
        await asyncio.sleep(0)  # let jobs and heartbeats run between batches
    return total


async def count_prunable(repository: Repository, state: JobState | str, older_than: float) -> int:
    return await repository.count_prunable(JobState(state), older_than)


async def prune_expired(
    repository: Repository,
    policy: RetentionPolicy,
    *,
    batch_size: int = 1000,
    keep_going: Callable[[], bool] = lambda: True,
) -> dict[str, int]:
    """One retention pass over every state the policy limits; returns deletions per state."""
    deleted: dict[str, int] = {}
    for state, older_than in policy.items():
        n = await prune(repository, state, older_than, batch_size=batch_size, keep_going=keep_going)
        if n:
            deleted[state.value] = n
    if deleted:
        logger.info(
            "retention deleted %s",
            ", ".join(f"{n} {state}" for state, n in deleted.items()),
            extra={"deleted": deleted},
        )
    return deleted
