"""Issue 14 item 14: worker uptime, and counts fresher than one heartbeat period."""

from __future__ import annotations

import asyncio
import time

from pgqueue import App
from pgqueue._monitoring import Monitor
from pgqueue._services.heartbeat import COUNTS_FRESH
from tests.helpers import fetchval, running_worker, wait_for


async def test_counts_reach_the_database_well_within_one_heartbeat(app: App, dsn: str) -> None:
    gate = asyncio.Event()

    @app.task(name="held")
    async def held() -> None:
        await gate.wait()

    @app.task(name="quick")
    async def quick() -> None:
        return None

    # A heartbeat interval of 60 s: without early beats the counts would lag a minute.
    async with running_worker(app, heartbeat_interval=60.0, heartbeat_ttl=120.0) as worker:

        async def counts() -> tuple[int, int, int]:
            found = tuple(
                await fetchval(
                    dsn,
                    "SELECT ARRAY[processed, failed, active]::int[] FROM pgqueue.workers"
                    " WHERE id = $1::uuid",
                    worker.id,
                )
            )
            return (found[0], found[1], found[2])

        async def at(expected: tuple[int, int, int]) -> bool:
            return await counts() == expected

        started = time.monotonic()
        await app.result(await quick.enqueue(), timeout=15)
        await wait_for(lambda: at((1, 0, 0)), timeout=10, message="processed 1")
        await held.enqueue()
        await wait_for(lambda: at((1, 0, 1)), timeout=10, message="active 1")
        gate.set()
        await wait_for(lambda: at((2, 0, 0)), timeout=10, message="processed 2")
        # Three changes, each seen after about COUNTS_FRESH: far less than one 60 s interval.
        assert time.monotonic() - started < 3 * COUNTS_FRESH + 20

        [row] = await Monitor(app.repository).workers() or []
        assert (row.processed, row.failed, row.active) == (2, 0, 0)
        elapsed = await fetchval(
            dsn,
            "SELECT extract(epoch FROM now() - started_at)::float8 FROM pgqueue.workers"
            " WHERE id = $1::uuid",
            worker.id,
        )
        assert 0 < row.uptime_seconds <= elapsed + 1
