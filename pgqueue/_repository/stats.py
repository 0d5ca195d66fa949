"""Reads of the monitoring views, the database's clock and its liveness."""

from __future__ import annotations

from datetime import datetime

from pgqueue._repository.driver import Database, Row, translated
from pgqueue._sql import query


class Stats(Database):
    """Named queries on the monitoring views, and the database's clock."""

    async def db_now(self) -> datetime:
        """The database's clock: the one time every worker agrees on (worker clocks drift)."""
        with translated(self.dsn):
            value: datetime = await self.pool.fetchval(query("db_now"))
        return value

    async def ping(self) -> bool:
        """Whether the database answers a query (raises a pgqueue error when it cannot)."""
        with translated(self.dsn):
            return await self.pool.fetchval(query("db_ping")) is True

    async def schema_revision(self) -> str | None:
        """The Alembic revision of the pgqueue schema; None if it was never migrated."""
        with translated(self.dsn):
            if not await self.pool.fetchval(query("schema_revision_exists")):
                return None
            value = await self.pool.fetchval(query("schema_revision"))
        return None if value is None else str(value)

    async def queue_stats(self) -> list[Row]:
        with translated(self.dsn):
            return [dict(r) for r in await self.pool.fetch(query("queue_stats_list"))]

    async def worker_stats_present(self) -> bool:
        """Whether the worker_stats view exists (it needs the workers table of revision 0002)."""
        with translated(self.dsn):
            return bool(await self.pool.fetchval(query("worker_stats_exists")))

    async def worker_stats(self) -> list[Row]:
        with translated(self.dsn):
            return [dict(r) for r in await self.pool.fetch(query("worker_stats_list"))]

    async def task_throughput(self) -> list[Row]:
        with translated(self.dsn):
            return [dict(r) for r in await self.pool.fetch(query("task_throughput_list"))]

    async def task_runtimes(self) -> list[Row]:
        with translated(self.dsn):
            return [dict(r) for r in await self.pool.fetch(query("task_runtimes_list"))]
