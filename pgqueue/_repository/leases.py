"""Queries on pgqueue.leases: the named, expiring leases workers elect a leader with."""

from __future__ import annotations

from pgqueue._repository.driver import Database, translated
from pgqueue._sql import query


class Leases(Database):
    """Named queries on leases (database time decides expiry, never a worker's clock)."""

    async def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        """Take or renew lease `name` for `holder` for `ttl` seconds; True if `holder` has it."""
        with translated(self.dsn):
            row = await self.pool.fetchrow(query("lease_acquire"), name, holder, ttl)
        return row is not None

    async def release_lease(self, name: str, holder: str) -> None:
        """Give lease `name` up if `holder` has it, so another worker can take over at once."""
        with translated(self.dsn):
            await self.pool.execute(query("lease_release"), name, holder)
