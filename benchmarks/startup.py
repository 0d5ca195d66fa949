"""Start-up (issue 18 goal 6): how long after `worker.start()` returns the first job starts.

One job is queued before the worker exists; a fresh App (so a fresh pool, as in a new process)
builds a worker, and the gap between `start()` returning and the task's first line is the
figure. The baseline, in the same run: one raw asyncpg claim of that job on an open connection
(what the first claim must cost at least). Run alone: `python -m benchmarks.startup`.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import asyncpg

from benchmarks.db import BENCH_DSN, Databases
from pgqueue import App

RAW_CLAIM = """
UPDATE pgqueue.jobs SET state = 'running', attempts = attempts + 1, started_at = now(), worker_id = gen_random_uuid()
WHERE id = (SELECT id FROM pgqueue.jobs
            WHERE state = 'queued' AND queue = 'default' AND NOT limited
            ORDER BY priority DESC, run_at, id
            LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id
"""


async def first_job_after_start(dsn: str) -> dict[str, float]:
    """One round: seconds from start() returning to the first job running, and start() itself."""
    app = App(dsn)
    started = asyncio.Event()
    ran_at = 0.0

    @app.task(name="bench.first")
    async def first() -> None:
        nonlocal ran_at
        ran_at = time.perf_counter()
        started.set()

    async with app:
        await first.enqueue()
        worker = app.worker(concurrency=10)
        called = time.perf_counter()
        await worker.start()
        returned = time.perf_counter()
        try:
            await asyncio.wait_for(started.wait(), 10)
        finally:
            await worker.stop()
    return {"after_start": ran_at - returned, "start": returned - called}


async def raw_claim(dsn: str) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pgqueue.enqueue('bench.raw', '[]')")
        begin = time.perf_counter()
        await conn.fetchval(RAW_CLAIM)
        return time.perf_counter() - begin
    finally:
        await conn.close()


async def startup(databases: Databases, rounds: int = 15) -> dict[str, Any]:
    """Medians and worst of `rounds` interleaved rounds, each on a fresh database."""
    after: list[float] = []
    start: list[float] = []
    raw: list[float] = []
    for _ in range(rounds):
        async with databases.fresh() as dsn:
            one = await first_job_after_start(dsn)
            after.append(one["after_start"])
            start.append(one["start"])
            raw.append(await raw_claim(dsn))
    return {
        "after_start_p50": statistics.median(after),
        "after_start_max": max(after),
        "start_p50": statistics.median(start),
        "raw_claim_p50": statistics.median(raw),
        "rounds": rounds,
    }


async def _alone() -> dict[str, Any]:
    databases = Databases(BENCH_DSN)
    try:
        return await startup(databases)
    finally:
        await databases.close()


def main() -> None:
    result = asyncio.run(_alone())
    for key, value in result.items():
        print(f"{key}: {value * 1000:.2f} ms" if key != "rounds" else f"{key}: {value}")


if __name__ == "__main__":
    main()
