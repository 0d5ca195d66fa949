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
It is one of the pool's own (the App still holds at most `pool_max_size` connections), lent at
the first claim and given back when the fetch loop ends or the App closes. The pool skips
asyncpg's reset on release (driver._keep_session), so the setting is undone here first: RESET on
a healthy connection; a connection whose call failed (a driver or network error, a timeout, a
cancellation: it may be mid-statement) is closed instead, after its cancel request, and the
pool opens another. An error the server raised for the statement leaves it held."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from pgqueue._repository.driver import Lent, close_gracefully, leaves_connection_usable
from pgqueue._sql import query

# Pool connections never lent, whatever the number of workers on one App: the rest of the
# worker (outcome batches, promotion, cancel checks) and the tasks' own calls use them.
KEEP_IN_POOL = 2
# Seconds a failed connection's graceful close may take before it is terminated.
RETIRE_TIMEOUT = 10.0


class ClaimConnection:
    """A pool connection lent to one worker's claims, with generic plans forced on it."""

    def __init__(self, pool: asyncpg.Pool, lent: set[Lent] | None = None) -> None:
        self.pool = pool
        self._lent: set[Lent] = set() if lent is None else lent
        self._lent.add(self)
        self._conn: asyncpg.pool.PoolConnectionProxy | None = None
        self._closed = False
        # One call at a time, and close() waits for the call under way: a connection handed
        # back mid-claim would go back to the pool with the claim's answer still to come.
        self._lock = asyncio.Lock()

    @classmethod
    def lend(
        cls, pool: asyncpg.Pool, lent: set[Lent], *, prepared_statements: bool
    ) -> ClaimConnection | None:
        """One over `pool`, counted in `lent` until closed, or None where the claims stay on the
        pool: behind a transaction pooler (no prepared statement, no session setting), or when
        lending one more would leave fewer than KEEP_IN_POOL connections to everything else."""
        if not prepared_statements or pool.get_max_size() - len(lent) <= KEEP_IN_POOL:
            return None
        return cls(pool, lent)

    async def fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        async with self._lock:
            conn = await self._connection()
            try:
                rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
            except BaseException as exc:
                if not leaves_connection_usable(exc):
                    await self._give_back(healthy=False)
                raise
        return rows

    async def _connection(self) -> asyncpg.pool.PoolConnectionProxy:
        if self._closed:
            # What a closed pool raises, so callers see the same DatabaseUnavailableError.
            raise asyncpg.InterfaceError("the worker's claim connection is closed")
        conn = self._conn
        if conn is not None and _open(conn):
            return conn
        if conn is not None:
            await self._give_back(healthy=False)  # the server dropped it while idle
        conn = await self.pool.acquire()
        try:
            await conn.execute(query("session_force_generic_plans"))
        except BaseException:
            await _retire(conn)  # whether the setting took or not, it must not go back with it
            await self.pool.release(conn)
            raise
        self._conn = conn
        return conn

    async def _give_back(self, *, healthy: bool) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if healthy and _open(conn):
            try:
                await conn.execute(query("session_default_plans"))
            except BaseException:
                await _retire(conn)
                await self.pool.release(conn)
                raise
        else:
            await _retire(conn)  # maybe mid-statement: the pool opens another
        await self.pool.release(conn)

    async def close(self) -> None:
        """Give the connection back to the pool, its setting undone, after the call under way;
        calls from now on raise. Shielded: a caller cancelled meanwhile must not leave it held
        (asyncpg's pool would wait for it for ever when it closes)."""
        self._closed = True
        await asyncio.shield(self._close())

    async def _close(self) -> None:
        try:
            async with self._lock:
                # A RESET that failed has ended the connection, which is all that matters here.
                with contextlib.suppress(Exception):
                    await self._give_back(healthy=True)
        finally:
            self._lent.discard(self)


def _open(conn: asyncpg.pool.PoolConnectionProxy) -> bool:
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:  # closed while held: the pool has already taken it back
        return False


async def _retire(conn: asyncpg.pool.PoolConnectionProxy) -> None:
    """End a connection that must not serve again (the pool then opens another), unless it is
    gone already: gracefully, as the enqueue lane retires its own, or a cancelled claim would
    commit with its jobs running for a worker that never got them."""
    if _open(conn):
        await close_gracefully(conn, RETIRE_TIMEOUT)
