"""Maintenance's database pieces: the lease one worker holds for all, and periodic ticks.

Every worker with `maintenance` on competes for the lease named "maintenance" (a row in
pgqueue.leases with an expiry in database time); the holder renews it, and when it stops or
dies another worker takes over once the lease expires. The lease saves work, it is not what
makes things correct: a tick is claimed by moving the schedule's last_tick forward in the
transaction that enqueues its job, and pruning deletes with SKIP LOCKED, so even two workers
that both believe they lead (a stalled one waking up) enqueue each tick once. The loops that
use them: pgqueue/_services/maintenance.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from pgqueue._job import JobRequest
from pgqueue._periodic import PeriodicSchedule
from pgqueue._repository import Repository
from pgqueue.errors import DatabaseUnavailableError, PgQueueError

logger = logging.getLogger("pgqueue.maintenance")

MAINTENANCE_LEASE = "maintenance"

# What tests may set instead of database time for periodic ticks (`worker.ops.clock`).
ScheduleClock = Callable[[], datetime]
RequestFactory = Callable[[PeriodicSchedule, datetime], JobRequest]


class Lease:
    """A named lease in pgqueue.leases, held by `holder` until an expiry in database time."""

    def __init__(
        self,
        repository: Repository,
        name: str,
        holder: str,
        ttl: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.repository = repository
        self.monotonic = monotonic
        self.name = name
        self.holder = holder
        self.ttl = ttl
        self._valid_until: float | None = None  # local monotonic bound, conservative

    @property
    def held(self) -> bool:
        return self._valid_until is not None and self.monotonic() < self._valid_until

    async def acquire(self) -> bool:
        """Take or renew the lease; True while we hold it."""
        asked_at = self.monotonic()
        acquired = await self.repository.acquire_lease(self.name, self.holder, self.ttl)
        # Measured from before the request: the database's expiry can only be later than this.
        self._valid_until = asked_at + self.ttl if acquired else None
        return acquired

    async def release(self) -> None:
        self._valid_until = None
        await self.repository.release_lease(self.name, self.holder)


class Scheduler:
    """Enqueues the due ticks of periodic schedules, each exactly once."""

    def __init__(
        self,
        repository: Repository,
        schedules: Sequence[PeriodicSchedule],
        make_request: RequestFactory,
    ) -> None:
        self.repository = repository
        self.schedules = list(schedules)
        self.make_request = make_request
        self.enqueued = 0
        # The last error of each failing schedule: logged when it first appears, not every pass.
        self.failing: dict[str, str] = {}

    async def register(self, now: datetime) -> None:
        """Record the schedules this worker knows (new ones count ticks from `now`)."""
        for s in self.schedules:
            await self.repository.register_schedule(s.name, s.task, s.cron, s.timezone, now)

    async def run_due(self, now: datetime) -> int:
        """Enqueue every due tick of every schedule as of `now`; returns jobs enqueued."""
        enqueued = 0
        for schedule in self.schedules:
            try:
                enqueued += await self._run_schedule(schedule, now)
            except DatabaseUnavailableError:
                raise
            except Exception as exc:
                # One broken schedule (arguments its task no longer takes, a cron croniter fails
                # on at use, a bug) must not stop the others; its tick stays unclaimed and is
                # tried again next pass.
                self._failed(schedule, exc)
            else:
                if self.failing.pop(schedule.name, None) is not None:
                    logger.info(
                        "schedule %s: enqueues its ticks again",
                        schedule.name,
                        extra={"schedule": schedule.name, "task": schedule.task},
                    )
        self.enqueued += enqueued
        return enqueued

    def _failed(self, schedule: PeriodicSchedule, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        repeated = self.failing.get(schedule.name) == error
        self.failing[schedule.name] = error
        logger.log(
            logging.DEBUG if repeated else logging.ERROR,
            "schedule %s: could not enqueue its tick (%s); the other schedules run, this one is "
            "tried again every pass",
            schedule.name,
            error,
            # A pgqueue error says all there is; anything else is a bug worth its traceback.
            exc_info=None if isinstance(exc, PgQueueError) or repeated else exc,
            extra={"schedule": schedule.name, "task": schedule.task},
        )

    async def _run_schedule(self, schedule: PeriodicSchedule, now: datetime) -> int:
        row = await self.repository.get_schedule(schedule.name)
        if row is None:  # registered by nobody yet (the table was emptied): register now
            await self.register(now)
            return 0
        after = row["last_tick"] or row["registered_at"]
        ticks, skipped = schedule.due_ticks(after, now)
        if skipped:
            logger.warning(
                "schedule %s: skipped %d missed ticks (catch_up=%d)",
                schedule.name,
                skipped,
                schedule.catch_up,
                extra={"schedule": schedule.name, "task": schedule.task},
            )
        enqueued = 0
        for tick in ticks:
            if await self.enqueue_tick(schedule, tick):
                enqueued += 1
        return enqueued

    async def enqueue_tick(self, schedule: PeriodicSchedule, tick: datetime) -> bool:
        """Claim `tick` and enqueue its job in one transaction; False if it was claimed before."""
        request = self.make_request(schedule, tick)
        done = await self.repository.enqueue_tick(schedule.name, tick, request)
        if done is None:
            return False
        logger.info(
            "schedule %s: enqueued job %d for tick %s",
            schedule.name,
            done.id,
            tick.isoformat(),
            extra={"job_id": done.id, "task": request.task, "queue": request.queue},
        )
        return True


async def database_now(repository: Repository) -> datetime:
    """The database's now(): ticks are due by database time, never by a worker's clock."""
    return await repository.db_now()
