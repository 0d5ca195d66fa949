"""Queries on pgqueue.schedules: periodic schedules and the claim of each tick."""

from __future__ import annotations

from datetime import datetime

from pgqueue._enqueue import Enqueued, enqueue_asyncpg
from pgqueue._job import JobRequest
from pgqueue._repository.driver import Database, Row, translated
from pgqueue._sql import query


class Schedules(Database):
    """Named queries on schedules."""

    async def register_schedule(
        self, name: str, task: str, cron: str, timezone: str, now: datetime
    ) -> None:
        """Record a schedule a worker knows (a new one counts ticks from `now`)."""
        with translated(self.dsn):
            await self.pool.fetchrow(query("schedule_register"), name, task, cron, timezone, now)

    async def get_schedule(self, name: str) -> Row | None:
        """Since when schedule `name` exists and its last enqueued tick; None if unregistered."""
        with translated(self.dsn):
            row = await self.pool.fetchrow(query("schedule_get"), name)
        return dict(row) if row is not None else None

    async def enqueue_tick(self, name: str, tick: datetime, request: JobRequest) -> Enqueued | None:
        """Claim `tick` of schedule `name` and enqueue its job in one transaction, so each tick
        gets exactly one job; None if the tick was claimed before."""
        with translated(self.dsn):
            async with self.pool.acquire() as conn, conn.transaction():
                claimed = await conn.fetchval(query("schedule_advance"), name, tick)
                if claimed is None:
                    return None
                # In a transaction: enqueue_one only once the schema is known to have it.
                [done] = await enqueue_asyncpg(conn, [request], single=self.enqueue_one is True)
        return done

    async def list_schedules(self) -> list[Row]:
        """Every registered schedule (`pgqueue periodic list`)."""
        with translated(self.dsn):
            rows = await self.pool.fetch(query("schedule_list"))
        return [dict(r) for r in rows]
