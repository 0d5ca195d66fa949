"""Promoter: moves scheduled jobs and retries that came due into the queue (job_promote_due.sql).

Every worker runs one; SKIP LOCKED hands each due row to one of them. The smallest service:
copy this file to start a new one.
"""

from __future__ import annotations

from pgqueue._clock import Clock
from pgqueue._repository import Repository
from pgqueue._services._base import Service


class Promoter(Service):
    name = "promote"
    what = "promoting due jobs"

    def __init__(self, repository: Repository, *, interval: float, clock: Clock) -> None:
        # Jittered: the workers of a cluster spread their promotions over the interval.
        super().__init__(interval=interval, clock=clock, jitter=0.5)
        self.repository = repository
        self.promoted = 0

    async def run_once(self) -> None:
        due = await self.repository.promote_due(now=self.clock.now_override())
        self.promoted += sum(due.values())
