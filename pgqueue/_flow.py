"""Flow control in the worker (docs/limits.md): register the app's limits at start, and run the
limited claim (pgqueue.claim_limited) beside the plain one, only when it can find something.

The limits themselves are enforced by the database, in the claim: this only decides when to ask.
A worker asks when limits exist in the database at all, and then after a wake-up (a NOTIFY, an
outcome of its own written: a slot may be free), when the claim said a rate lets the next job
start (its wait hint), or after a poll interval.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence

from pgqueue._clock import Clock
from pgqueue._job import ClaimedJob
from pgqueue._limit_values import LimitRow, Limits
from pgqueue._registry import TaskRegistry
from pgqueue._repository import Repository

logger = logging.getLogger("pgqueue.worker")


class FlowControl:
    """When one worker runs the limited claim, and what it learnt from the last one."""

    def __init__(
        self,
        registry: TaskRegistry,
        queue_limits: Mapping[str, Limits],
        *,
        poll_interval: float,
        clock: Clock,
    ) -> None:
        self._registry = registry
        self._queue_limits = queue_limits
        self._poll_interval = poll_interval
        self._clock = clock
        self.active = False  # limits exist in the database: claim limited jobs too
        self._next_at = 0.0  # monotonic time of the next limited claim
        self.wait_seconds: float | None = None  # the last claim's hint: a rate holds jobs back
        self._claimed: set[int] = set()  # limited jobs this worker runs
        self._recorded: set[int] = set()  # ... whose outcome waits to be written

    async def register(self, repository: Repository, worker_id: str) -> None:
        """Declare the app's limits (tasks and queues) in pgqueue.limits; learn whether any
        limit exists in the database, this app's or another's."""
        rows = self._registry.limit_rows() + [
            LimitRow("queue", name, limits)
            for name, limits in sorted(self._queue_limits.items())
            if limits.limited
        ]
        unlimited_queues = sorted(n for n, lim in self._queue_limits.items() if not lim.limited)
        found = await repository.register_limits(
            rows, self._registry.unlimited_names(), unlimited_queues
        )
        self.active = found.total > 0
        if rows:
            logger.info(
                "worker %s: limits %s",
                worker_id,
                "; ".join(f"{r.scope} {r.name}: {r.limits.describe()}" for r in rows),
                extra={"worker_id": worker_id},
            )

    def woken(self) -> None:
        """Something may have changed (a NOTIFY, a slot freed): the next claim asks again."""
        self._next_at = 0.0

    def recorded(self, job_id: int) -> None:
        """An attempt of ours ended; its outcome is buffered, not written yet."""
        if job_id in self._claimed:
            self._claimed.discard(job_id)
            self._recorded.add(job_id)

    def written(self, pending: Iterable[int]) -> bool:
        """Outcomes were written (`pending`: the ids still buffered). True when a limited job's
        outcome is among them: its slot is free in the database now, so claim again."""
        if not self._recorded:
            return False
        still = set(pending)
        done = self._recorded - still
        self._recorded &= still
        if done:
            self.woken()
        return bool(done)

    def due(self) -> bool:
        return self.active and self._clock.monotonic() >= self._next_at

    async def claim(
        self, repository: Repository, queues: Sequence[str], free: int, worker_id: str
    ) -> list[ClaimedJob]:
        """Limited jobs the limits let start now, at most `free`."""
        claimed = await repository.claim_limited(queues, free, worker_id)
        self.wait_seconds = claimed.wait_seconds
        self._claimed.update(job.id for job in claimed.jobs)
        if len(claimed.jobs) < free:
            pause = self._poll_interval if claimed.wait_seconds is None else claimed.wait_seconds
            self._next_at = self._clock.monotonic() + pause
        else:
            self._next_at = 0.0
        return claimed.jobs

    def wait(self, idle: float) -> float:
        """How long an idle worker waits before claiming again: `idle`, or less when a rate lets
        a waiting job start sooner."""
        if not self.active or self.wait_seconds is None:
            return idle
        return max(0.0, min(idle, self._next_at - self._clock.monotonic()))

    @property
    def holds_jobs_back(self) -> bool:
        """The last limited claim left jobs waiting on a rate (burst mode waits for them)."""
        return self.active and self.wait_seconds is not None
