"""Rescuer: marks silent workers lost and puts their jobs back, in one transaction (worker_reap.sql,
job_rescue.sql: Repository.rescue_pass).

Any live worker rescues the jobs of dead ones; SKIP LOCKED keeps two rescuers apart. A worker
whose own heartbeats have not reached the database for a ttl skips its passes: cut off from
the database (a partition), judging others could mark itself lost and requeue its own jobs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pgqueue._clock import Clock
from pgqueue._repository import Repository
from pgqueue._services._base import Service

logger = logging.getLogger("pgqueue.worker")

# The longest pause between two rescue passes, whatever the heartbeat interval.
MAX_INTERVAL = 5.0


class Rescuer(Service):
    name = "rescue"
    what = "rescue check"

    def __init__(
        self,
        repository: Repository,
        *,
        heartbeat_interval: float,
        heartbeat_ttl: float,
        worker_retention: float,
        last_beat_ok: Callable[[], float],
        clock: Clock,
    ) -> None:
        super().__init__(interval=min(heartbeat_interval, MAX_INTERVAL), clock=clock, jitter=0.5)
        self.repository = repository
        self.heartbeat_ttl = heartbeat_ttl
        self.worker_retention = worker_retention
        self.last_beat_ok = last_beat_ok  # clock.monotonic() of our last beat that got through
        self.skipped = 0  # passes skipped while our own heartbeats were not getting through
        self.rescued = 0

    def cut_off(self) -> bool:
        """Whether our own heartbeats have not reached the database for a whole ttl."""
        return self.clock.monotonic() - self.last_beat_ok() > self.heartbeat_ttl

    async def run_once(self) -> None:
        if self.cut_off():
            self.skipped += 1
            return
        lost, rescued = await self.repository.rescue_pass(self.worker_retention)
        self.rescued += len(rescued)
        if lost or rescued:
            logger.warning(
                "marked %d silent workers lost; rescued %d jobs (%d requeued, %d dead)",
                lost,
                len(rescued),
                sum(1 for s in rescued.values() if s == "queued"),
                sum(1 for s in rescued.values() if s == "dead"),
            )
