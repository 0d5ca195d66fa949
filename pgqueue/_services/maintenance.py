"""The maintenance leader and the pruner: the work one worker does for all of them.

Every worker with `maintenance` on competes for the lease named "maintenance"
(pgqueue/_maintenance.py: Lease, and Scheduler for periodic ticks). The holder renews it every
third of its ttl and enqueues due ticks every schedule_interval (`Leader`); while it leads, the
`Pruner` deletes finished jobs past their retention every prune_interval. The lease saves work,
it is not what makes things correct: a tick is claimed in the transaction that enqueues its
job, and pruning deletes with SKIP LOCKED.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from pgqueue._clock import Clock
from pgqueue._maintenance import MAINTENANCE_LEASE, Lease, RequestFactory, Scheduler
from pgqueue._periodic import PeriodicSchedule
from pgqueue._repository import Repository
from pgqueue._retention import RetentionPolicy, prune_expired
from pgqueue._services._base import Service
from pgqueue.errors import DatabaseError
from pgqueue.settings import WorkerSettings

logger = logging.getLogger("pgqueue.maintenance")

Now = Callable[[], Awaitable[datetime]]


class Leader(Service):
    """Competes for the lease; while holding it, enqueues the due periodic ticks."""

    name = "maintenance"
    what = "maintenance pass"

    def __init__(
        self,
        lease: Lease,
        scheduler: Scheduler,
        *,
        schedule_interval: float,
        now: Now,
        on_change: Callable[[], None],
        clock: Clock,
    ) -> None:
        super().__init__(interval=schedule_interval, clock=clock)
        self.lease = lease
        self.scheduler = scheduler
        self.now = now
        self.on_change = on_change
        self.leader_passes = 0  # completed passes as the leader (tests wait on it)
        self._registered = False
        self._renewed_at = float("-inf")

    def interval(self) -> float:
        # A follower only needs to notice the lease expiring; a leader renews within a third.
        return self.every if self.lease.held else self.lease.ttl / 3

    async def run_once(self) -> None:
        if not self._registered and self.scheduler.schedules:
            await self.scheduler.register(await self.now())
        self._registered = True
        await self._compete()
        if self.lease.held:
            if self.scheduler.schedules:
                await self.scheduler.run_due(await self.now())
            self.leader_passes += 1

    async def _compete(self) -> None:
        was_leader = self.lease.held
        due = not was_leader or self.clock.monotonic() - self._renewed_at >= self.lease.ttl / 3
        if due and await self.lease.acquire():
            self._renewed_at = self.clock.monotonic()
        if self.lease.held != was_leader:
            logger.info(
                "maintenance leadership %s",
                "taken" if self.lease.held else "lost",
                extra={"holder": self.lease.holder},
            )
            self.on_change()


class Pruner(Service):
    """While the lease is held: deletes finished jobs past their retention, in batches."""

    name = "retention"
    what = "retention pass"

    def __init__(
        self,
        repository: Repository,
        lease: Lease,
        retention: RetentionPolicy,
        *,
        interval: float,
        batch_size: int,
        clock: Clock,
    ) -> None:
        super().__init__(interval=interval, clock=clock)
        self.repository = repository
        self.lease = lease
        self.retention = retention
        self.batch_size = batch_size
        self.prune_passes = 0

    async def run_once(self) -> None:
        if not self.lease.held:
            return  # the leader pokes this service when leadership is taken
        await prune_expired(
            self.repository,
            self.retention,
            batch_size=self.batch_size,
            keep_going=lambda: self.lease.held,
        )
        await self.repository.prune_limit_buckets()  # rate buckets full again (docs/limits.md)
        self.prune_passes += 1


class Maintenance:
    """The leader and the pruner of one worker, sharing its lease."""

    def __init__(
        self,
        repository: Repository,
        holder: str,
        settings: WorkerSettings,
        schedules: Sequence[PeriodicSchedule],
        make_request: RequestFactory,
        *,
        clock: Clock,
        now: Now,
    ) -> None:
        self.lease = Lease(
            repository, MAINTENANCE_LEASE, holder, settings.maintenance_lease_ttl, clock.monotonic
        )
        self.scheduler = Scheduler(repository, schedules, make_request)
        self.pruner = Pruner(
            repository,
            self.lease,
            RetentionPolicy.from_settings(settings),
            interval=settings.prune_interval,
            batch_size=settings.prune_batch_size,
            clock=clock,
        )
        self.leader = Leader(
            self.lease,
            self.scheduler,
            schedule_interval=settings.schedule_interval,
            now=now,
            on_change=self.pruner.poke,
            clock=clock,
        )

    @property
    def is_leader(self) -> bool:
        return self.lease.held

    @property
    def passes(self) -> int:
        return self.leader.leader_passes

    @property
    def prune_passes(self) -> int:
        return self.pruner.prune_passes

    @property
    def services(self) -> list[Service]:
        return [self.leader, self.pruner]

    async def stop(self) -> None:
        """Stop both, then give the lease up so another worker takes over at once (best
        effort)."""
        await asyncio.gather(*(service.stop() for service in self.services))
        if self.lease.held:
            with contextlib.suppress(DatabaseError, TimeoutError):
                await asyncio.wait_for(self.lease.release(), 5.0)
