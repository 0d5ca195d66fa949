"""The database boundary: the only code that holds the pool and runs pgqueue's SQL.

`Repository` is a façade over one asyncpg pool: every query is a named method, each running one
named file of `pgqueue._sql`, and every driver error leaves it translated into a pgqueue error
(`driver.translated`). The methods live with their subject:

- `driver`     the pool, connections of their own, error translation (the only place)
- `jobs`       claim, outcomes, promotion, rescue, cancel, lookups, dead letters, retention, progress
- `workers`    heartbeats, worker states, reaping, `pgqueue workers`
- `leases`     leader election
- `schedules`  periodic schedules and their ticks
- `stats`      the monitoring views, the database's clock, ping
- `limits`     flow control: registering limits, the limited claim, limit stats

A new query: a .sql file in pgqueue/_sql/, one method in the subject's module (docs/architecture.md,
"Where a new query goes").
"""

from __future__ import annotations

from pgqueue._repository.claim_connection import ClaimConnection
from pgqueue._repository.driver import (
    Database,
    Lane,
    connect,
    create_pool,
    translate_error,
    translated,
)
from pgqueue._repository.jobs import DeadLetterScope, Jobs, OutcomeRow, job_info_from_row
from pgqueue._repository.leases import Leases
from pgqueue._repository.limits import LimitedClaim, Limits, Registered
from pgqueue._repository.schedules import Schedules
from pgqueue._repository.stats import Stats
from pgqueue._repository.testkit import DrainQueries
from pgqueue._repository.workers import HeartbeatConnection, WorkerRow, Workers

__all__ = [
    "ClaimConnection",
    "Database",
    "DeadLetterScope",
    "HeartbeatConnection",
    "LimitedClaim",
    "OutcomeRow",
    "Registered",
    "Repository",
    "WorkerRow",
    "connect",
    "create_pool",
    "job_info_from_row",
    "translate_error",
    "translated",
]


class Repository(Jobs, Workers, Leases, Schedules, Stats, Limits, DrainQueries):
    """Every named query, over one pool. Each subject's methods are in its own module; this
    class only puts them together, so a caller holds one object."""

    @classmethod
    async def open(
        cls,
        dsn: str | None,
        *,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 10.0,
        command_timeout: float | None = 30.0,
        prepared_statements: bool = True,
    ) -> Repository:
        """A repository over a new pool (see `create_pool` for the bounds and for
        `prepared_statements`); with room for two connections or more, and outside a transaction
        pooler, one of them is the lane for single enqueues (`Lane`)."""
        lane = None
        if max_size >= 2 and prepared_statements:
            lane = Lane(dsn, timeout=timeout, command_timeout=command_timeout)
            max_size -= 1
        pool = await create_pool(
            dsn,
            min_size=min(min_size, max_size),
            max_size=max_size,
            timeout=timeout,
            command_timeout=command_timeout,
            prepared_statements=prepared_statements,
        )
        return cls(pool, dsn, lane, prepared_statements=prepared_statements)

    async def rescue_pass(
        self, retention_seconds: float, limit: int = 1000
    ) -> tuple[int, dict[int, str]]:
        """One rescue pass (services/rescuer.py): `reap_workers`, then `rescue_jobs`, in one
        transaction; returns (workers marked lost, job id -> new state). One transaction gives
        both statements one now(), so the pass that puts a job back has marked its worker lost
        too, and the reap's row locks hold a concurrent heartbeat of a worker it marks until the
        pass commits, when the beat learns it was lost (worker_heartbeat.sql)."""
        with translated(self.dsn):
            async with self.pool.acquire() as conn, conn.transaction():
                lost, _pruned = await self.reap_workers(retention_seconds, connection=conn)
                rescued = await self.rescue_jobs(limit, connection=conn)
        return lost, rescued
