"""The connection a worker holds for its claims, on which each claim statement is planned once.

Under PostgreSQL's default plan_cache_mode the worker's claim (job_claim.sql, and
job_claim_after.sql) is planned again at every call, however long the connection lives: a generic
plan cannot know `LIMIT $2` (PostgreSQL assumes a tenth of the table) or how many queues `$1`
holds (it assumes ten), so it always looks dearer than a custom one, although it is the same
plan. The planning was 829,000 of the 1.75 million backend instructions of an idle worker's
one-job claim (benchmarks/statement_instructions.py, docs/benchmarks.md). Forcing generic plans
pool-wide was tried and reverted: other statements on the pool need the custom plan to use a
partial index (job_list.sql's state filter). So the setting stays on one connection, which only
the claims use, and whose two plans tests/plans/test_claim_plan.py checks in generic form.

The worker's fetch loop claims one batch at a time, so one connection serves it without a wait.
It is one of the pool's own (the App still holds at most `pool_max_size` connections), taken at
the first claim and given back when the fetch loop ends; asyncpg's reset on release (RESET ALL)
undoes the setting there. A driver or network error, a timeout or a cancellation during a claim
gives the connection back to the pool, which closes a broken one, and the next claim takes
another; an error the server raised for the statement leaves it held."""

from __future__ import annotations

import asyncpg

from pgqueue._repository.driver import leaves_connection_usable
from pgqueue._sql import query

# A smaller pool keeps its connections for the rest of the worker (outcomes, heartbeats).
MIN_POOL_SIZE = 3


class ClaimConnection:
    """A pool connection held for one worker's claims, with generic plans forced on it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._conn: asyncpg.pool.PoolConnectionProxy | None = None

    @classmethod
    def over(cls, pool: asyncpg.Pool, *, prepared_statements: bool) -> ClaimConnection | None:
        """One over `pool`, or None where the claims stay on the pool: behind a transaction
        pooler (no prepared statement, no session setting) or in a pool too small to lend one
        connection for good."""
        if not prepared_statements or pool.get_max_size() < MIN_POOL_SIZE:
            return None
        return cls(pool)

    async def fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        conn = await self._held()
        try:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
        except BaseException as exc:
            if not leaves_connection_usable(exc):
                await self._give_back()
            raise
        return rows

    async def _held(self) -> asyncpg.pool.PoolConnectionProxy:
        conn = self._conn
        if conn is not None and _open(conn):
            return conn
        if conn is not None:
            await self._give_back()  # the server dropped it while idle: the pool replaces it
        conn = await self.pool.acquire()
        try:
            await conn.execute(query("session_force_generic_plans"))
        except BaseException:
            await self.pool.release(conn)
            raise
        self._conn = conn
        return conn

    async def _give_back(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self.pool.release(conn)

    async def close(self) -> None:
        """Give the connection back to the pool (which resets its settings)."""
        await self._give_back()


def _open(conn: asyncpg.pool.PoolConnectionProxy) -> bool:
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:  # closed while held: the pool has already taken it back
        return False
