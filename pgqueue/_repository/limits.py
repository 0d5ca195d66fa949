"""Queries on flow control (docs/limits.md): registering limits, the limited claim, their stats."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pgqueue._job import ClaimedJob
from pgqueue._limit_values import LimitRow
from pgqueue._repository.driver import Database, Row, translated
from pgqueue._repository.jobs import claimed_job_from_row
from pgqueue._sql import query


@dataclass(frozen=True, slots=True)
class LimitedClaim:
    """What one limited claim took, and in how many seconds a limit that holds waiting jobs back
    lets the next one start (None: no rate holds anything back)."""

    jobs: list[ClaimedJob]
    wait_seconds: float | None


@dataclass(frozen=True, slots=True)
class Registered:
    """The outcome of registering a worker's limits: rows changed, limits in the database."""

    changed: int
    total: int


class Limits(Database):
    """Named queries on pgqueue.limits, limit_buckets and the limited jobs."""

    async def register_limits(
        self,
        rows: Sequence[LimitRow],
        unlimited_tasks: Sequence[str],
        unlimited_queues: Sequence[str],
    ) -> Registered:
        """Declare `rows` in pgqueue.limits and drop the limits of the tasks and queues given as
        unlimited; when that changed anything, mark the waiting jobs they concern again."""
        rates = [row.limits.rate for row in rows]
        with translated(self.dsn):
            async with self.pool.acquire() as conn, conn.transaction():
                found = await conn.fetchrow(
                    query("limit_register"),
                    [row.scope for row in rows],
                    [row.name for row in rows],
                    [row.limits.concurrency for row in rows],
                    [None if r is None else r.count for r in rates],
                    [None if r is None else r.seconds for r in rates],
                    [None if r is None else r.burst for r in rates],
                    list(unlimited_tasks),
                    list(unlimited_queues),
                )
                if found["changed"]:
                    tasks = [*unlimited_tasks, *(r.name for r in rows if r.scope == "task")]
                    queues = [*unlimited_queues, *(r.name for r in rows if r.scope == "queue")]
                    await conn.execute(query("job_mark_limited"), tasks, queues)
        return Registered(changed=found["changed"], total=found["total"])

    async def claim_limited(
        self, queues: Sequence[str], limit: int, worker_id: str
    ) -> LimitedClaim:
        with translated(self.dsn):
            rows = await self.pool.fetch(query("job_claim_limited"), list(queues), limit, worker_id)
        jobs = [claimed_job_from_row(r) for r in rows if r["id"] is not None]
        waits = [r["wait_seconds"] for r in rows if r["id"] is None]
        return LimitedClaim(jobs, min(waits) if waits else None)

    async def prune_limit_buckets(self) -> int:
        """Delete the rate buckets that are full again; returns how many."""
        with translated(self.dsn):
            status = await self.pool.execute(query("limit_bucket_prune"))
        return int(status.split()[-1])

    async def limit_stats(self) -> list[Row]:
        """The rows of pgqueue.limit_stats; none where the view does not exist (a schema older
        than revision 0013_limits)."""
        with translated(self.dsn):
            if not await self.pool.fetchval(query("limit_stats_exists")):
                return []
            return [dict(r) for r in await self.pool.fetch(query("limit_stats_list"))]
