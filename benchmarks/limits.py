"""Workload 11 (flow control, issue 11): unlimited jobs are never slowed by limited ones. The same
drain of unlimited jobs by one worker process, in an otherwise empty queue and behind 20,000
limited jobs waiting at their limit in the same queue (enqueued earlier, so ahead of the unlimited
ones in claim order), interleaved in the same run. Both runs use the same worker app, which
registers a limit, so the worker runs its limited claim in both: what differs is only the
limited jobs in the queue. Figures: docs/benchmarks.md, docs/limits.md."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg

from benchmarks.db import Databases
from benchmarks.measure import Rate, drain_window, fill_ready, vacuum_analyze, wait_drained
from benchmarks.report import Row, rate, ratio, verdict
from benchmarks.workers import worker_processes

APP_SPEC = "benchmarks.limits_app:app"
NOOP = "benchmarks.limits_app.noop"
HELD = "benchmarks.limits_app.held"
WAITING = 20_000

# What the worker registers for `held` (rate 1/h, burst 1) and what enqueue_many writes for its
# jobs (limited), written directly so the fill takes seconds, not a minute.
LIMIT_ROW = """
INSERT INTO pgqueue.limits (scope, name, rate_count, rate_seconds, burst)
VALUES ('task', $1, 1, 3600, 1)
"""
FILL_LIMITED = """
INSERT INTO pgqueue.jobs (task, args, kwargs, queue, run_at, limited)
SELECT $1, '[]', '{}', 'default', now() - interval '1 hour', true
FROM generate_series(1, $2::int)
"""


async def drain(
    dbs: Databases, jobs: int, concurrency: int, limited: int, extra_args: tuple[str, ...]
) -> Rate:
    """Drain `jobs` unlimited jobs with `limited` limited jobs waiting in the same queue."""
    async with dbs.fresh() as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(LIMIT_ROW, HELD)
            if limited:
                await conn.execute(FILL_LIMITED, HELD, limited)
            first, last = await fill_ready(conn, jobs, NOOP)
            await vacuum_analyze(conn)
            async with worker_processes(
                dsn, 1, concurrency, gate=True, extra_args=extra_args, app_spec=APP_SPEC
            ) as workers:
                waiting = asyncio.create_task(wait_drained(conn, first, last))
                while not waiting.done():
                    workers.check()
                    await asyncio.wait([waiting], timeout=1.0)
                waiting.result()
            return await drain_window(conn, first, last)
        finally:
            await conn.close()


async def measure(
    dbs: Databases,
    jobs: int,
    concurrency: int,
    rounds: int,
    extra_args: tuple[str, ...],
    log: Callable[[str], None],
) -> tuple[list[Row], dict[str, Any]]:
    log(f"flow control: drain of {jobs:,} unlimited jobs, alone and beside {WAITING:,} limited ...")
    alone: list[float] = []
    beside: list[float] = []
    for _ in range(rounds):  # interleaved: a noisy minute hits both
        alone.append((await drain(dbs, jobs, concurrency, 0, extra_args)).per_second)
        beside.append((await drain(dbs, jobs, concurrency, WAITING, extra_args)).per_second)
    a, b = sorted(alone)[len(alone) // 2], sorted(beside)[len(beside) // 2]
    rows = [
        Row(
            f"11. drain of unlimited jobs beside {WAITING:,} limited ones waiting at their limit",
            rate(b),
            f"the same drain alone {rate(a)}",
            ratio(b, a),
            ">= 0.90x",
            verdict(b >= 0.9 * a),
        )
    ]
    return rows, {"alone": alone, "beside_limited": beside, "waiting": WAITING}
