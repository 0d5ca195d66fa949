"""Workload 11, workflows (docs/workflows.md): a chain of 1,000 jobs and a group of 10,000 with
one callback, against the same jobs without dependencies, in one run on fresh databases.

Measured: the enqueue (one round trip each: app.chain / app.group().then() vs enqueue_many of
the same jobs), the drain by one worker process (a chain runs one job at a time, so its rate is
the cost of a step: completion, the trigger queuing the next job, the wake-up, the claim), and
how long after its last member finished the group's callback started.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import asyncpg

from benchmarks.db import Databases
from benchmarks.measure import Rate, as_dict, drain_window, wait_drained
from benchmarks.report import INFO, Row, ms, rate, ratio
from benchmarks.workers import worker_processes
from pgqueue import App, JobRequest

NOOP = "benchmarks.app.noop"
CHAIN = 1_000
GROUP = 10_000

Shape = Callable[[App, list[JobRequest]], Any]


def _plain(app: App, jobs: list[JobRequest]) -> Any:
    return app.enqueue_many(jobs)


def _chain(app: App, jobs: list[JobRequest]) -> Any:
    return app.chain(*jobs).enqueue()


def _group(app: App, jobs: list[JobRequest]) -> Any:
    return app.group(jobs[:-1]).then(jobs[-1]).enqueue()


async def _one(dbs: Databases, jobs: int, shape: Shape, concurrency: int) -> dict[str, Any]:
    """Enqueue `jobs` jobs in `shape` on a fresh database (timed), then drain them with one
    worker process (timed from the rows)."""
    requests = [JobRequest(task=NOOP, args=[], kwargs={}) for _ in range(jobs)]
    async with dbs.fresh() as dsn:
        async with App(dsn, pool_max_size=1) as app:
            await app.enqueue(NOOP, allow_unknown=True)  # connect outside the clock
            start = time.perf_counter()
            ids = await shape(app, requests)
            enqueue_seconds = time.perf_counter() - start
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("VACUUM (ANALYZE) pgqueue.jobs")
            first, last = min(ids), max(ids)
            async with worker_processes(dsn, 1, concurrency, gate=True):
                await wait_drained(conn, first, last)
            drained: Rate = await drain_window(conn, first, last)
            lag = await conn.fetchval(
                "SELECT extract(epoch FROM c.started_at - (SELECT max(m.finished_at) "
                "FROM pgqueue.jobs AS m WHERE m.id BETWEEN $1 AND $2 AND m.id <> $2))::float8 "
                "FROM pgqueue.jobs AS c WHERE c.id = $2",
                first,
                last,
            )
        finally:
            await conn.close()
    return {"enqueue_seconds": enqueue_seconds, "drain": as_dict(drained), "last_lag": lag}


async def measure(dbs: Databases, concurrency: int) -> dict[str, Any]:
    return {
        "chain": await _one(dbs, CHAIN, _chain, concurrency),
        "chain_plain": await _one(dbs, CHAIN, _plain, concurrency),
        "group": await _one(dbs, GROUP + 1, _group, concurrency),
        "group_plain": await _one(dbs, GROUP + 1, _plain, concurrency),
    }


def rows(r: dict[str, Any], concurrency: int) -> list[Row]:
    out = []
    for name, label, jobs in (
        ("chain", f"chain of {CHAIN:,}", CHAIN),
        ("group", f"group of {GROUP:,} + 1 callback", GROUP + 1),
    ):
        ours, plain = r[name], r[f"{name}_plain"]
        out += [
            Row(
                f"11. workflow: {label}, enqueue (one round trip)",
                ms(ours["enqueue_seconds"] * 1000),
                f"{jobs:,} jobs, enqueue_many {ms(plain['enqueue_seconds'] * 1000)}",
                ratio(ours["enqueue_seconds"], plain["enqueue_seconds"]),
                "",
                INFO,
            ),
            Row(
                f"11. workflow: {label}, drained (1 process, concurrency {concurrency})",
                rate(ours["drain"]["per_second"]),
                f"no dependencies {rate(plain['drain']['per_second'])}",
                ratio(ours["drain"]["per_second"], plain["drain"]["per_second"]),
                "",
                INFO,
            ),
        ]
    out.append(
        Row(
            "11. workflow: the callback starts after its last member finished",
            ms(r["group"]["last_lag"] * 1000),
            "",
            "",
            "",
            INFO,
        )
    )
    return out
