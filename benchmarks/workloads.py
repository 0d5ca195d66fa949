"""The workloads of the suite, pgqueue and raw baseline side by side. Each returns plain dicts
(numbers in jobs/s or ms) that run.py turns into table rows."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from benchmarks import baselines
from benchmarks.db import Databases
from benchmarks.measure import (
    FILL_FINISHED,
    FILL_SCHEDULED,
    Rate,
    as_dict,
    drain_window,
    fill_in_chunks,
    fill_ready,
    vacuum_analyze,
    wait_drained,
)
from benchmarks.workers import ROOT, WorkerProcesses, worker_processes
from pgqueue import App, JobRequest

NOOP = "benchmarks.app.noop"
NOOP_SYNC = "benchmarks.app.noop_sync"
SLEEPY = "benchmarks.app.sleepy"
PROBE = "benchmarks.app.probe"


# -- enqueue -------------------------------------------------------------------------------


# Both sides of an enqueue figure run in alternating blocks on open connections, so a change
# in the machine's load during the run falls on both alike (the shared machine moved a
# raw-first-then-ours figure by +-0.4).
ENQUEUE_BLOCKS = 10


async def enqueue_single(dbs: Databases, jobs: int) -> dict[str, Any]:
    """Workload 1: one job per transaction, pgqueue (app.enqueue) vs raw INSERT + NOTIFY."""
    async with dbs.fresh() as dsn:
        raw_conn = await asyncpg.connect(dsn)
        try:
            insert = await raw_conn.prepare(baselines.INSERT_NOTIFY)
            await insert.fetch(NOOP, "[]", "{}", "default")
            # The App's defaults, as users run it (issue 18): its pool, and the enqueue lane
            # beside it (pgqueue/_repository/driver.py, Lane).
            async with App(dsn) as app:
                # Outside the clock: the first call opens the pool, the second the lane (in the
                # background, which the pause lets finish), the third prepares on the lane.
                await app.enqueue(NOOP, allow_unknown=True)
                await app.enqueue(NOOP, allow_unknown=True)
                await asyncio.sleep(0.2)
                await app.enqueue(NOOP, allow_unknown=True)
                raw_s = ours_s = 0.0
                for block in _blocks(jobs):
                    start = time.perf_counter()
                    for _ in range(block):
                        await insert.fetch(NOOP, "[]", "{}", "default")
                    raw_s += time.perf_counter() - start
                    start = time.perf_counter()
                    for _ in range(block):
                        await app.enqueue(NOOP, allow_unknown=True)
                    ours_s += time.perf_counter() - start
        finally:
            await raw_conn.close()
    return {"pgqueue": as_dict(Rate(jobs, ours_s)), "raw": as_dict(Rate(jobs, raw_s))}


def _blocks(jobs: int, blocks: int = ENQUEUE_BLOCKS) -> list[int]:
    size = max(1, jobs // blocks)
    sizes = [size] * (jobs // size)
    if jobs % size:
        sizes.append(jobs % size)
    return sizes


async def enqueue_batch(dbs: Databases, jobs: int, batch: int = 1000) -> dict[str, Any]:
    """Workload 2: batches of `batch` per transaction, enqueue_many vs raw COPY + NOTIFY."""
    async with dbs.fresh() as dsn:
        requests = [JobRequest(task=NOOP, args=[], kwargs={}) for _ in range(batch)]
        raw_conn = await asyncpg.connect(dsn)
        try:
            async with App(dsn) as app:
                # Outside the clock, as the raw side's first COPY: a batch (one job would take
                # the single-job statement) prepares pgqueue.enqueue_batch's call and compiles
                # the function, about 20 ms once per connection, which the first timed batch
                # paid before (a twentieth of the workload's time at 20,000 jobs).
                await app.enqueue_many(requests[:1])
                await app.enqueue_many(requests)  # opens the lane, in the background
                await asyncio.sleep(0.2)
                await app.enqueue_many(requests)  # prepares on the lane
                await baselines.copy_batches(raw_conn, batch, batch)
                raw_s = ours_s = 0.0
                for block in _blocks(jobs, min(ENQUEUE_BLOCKS, max(1, jobs // batch))):
                    start = time.perf_counter()
                    await baselines.copy_batches(raw_conn, block, batch)
                    raw_s += time.perf_counter() - start
                    start = time.perf_counter()
                    for offset in range(0, block, batch):
                        await app.enqueue_many(requests[: min(batch, block - offset)])
                    ours_s += time.perf_counter() - start
        finally:
            await raw_conn.close()
    return {
        "pgqueue": as_dict(Rate(jobs, ours_s)),
        "raw": as_dict(Rate(jobs, raw_s)),
        "batch": batch,
    }


# -- drain ---------------------------------------------------------------------------------


async def _drain_with_workers(
    dsn: str,
    first: int,
    last: int,
    processes: int,
    concurrency: int | None,
    extra_args: tuple[str, ...] = (),
) -> Rate:
    conn = await asyncpg.connect(dsn)
    try:
        async with worker_processes(
            dsn, processes, concurrency, gate=True, extra_args=extra_args
        ) as workers:
            await _wait_drained_checked(conn, first, last, workers)
        return await drain_window(conn, first, last)
    finally:
        await conn.close()


async def _wait_drained_checked(
    conn: asyncpg.Connection, first: int, last: int, workers: WorkerProcesses
) -> None:
    waiting = asyncio.create_task(wait_drained(conn, first, last))
    try:
        while not waiting.done():
            workers.check()
            await asyncio.wait([waiting], timeout=1.0)
        waiting.result()
    finally:
        waiting.cancel()


async def _prefilled(dbs: Databases, jobs: int, task: str = NOOP) -> Any:
    """A fresh database with `jobs` ready jobs, vacuumed and analysed."""
    cm = dbs.fresh()
    dsn = await cm.__aenter__()
    conn = await asyncpg.connect(dsn)
    try:
        first, last = await fill_ready(conn, jobs, task)
        await vacuum_analyze(conn)
    finally:
        await conn.close()
    return cm, dsn, first, last


async def drain_raw(dbs: Databases, jobs: int, batch: int, one_statement: bool = False) -> Rate:
    cm, dsn, first, last = await _prefilled(dbs, jobs)
    try:
        return await baselines.drain(dsn, first, last, batch, one_statement=one_statement)
    finally:
        await cm.__aexit__(None, None, None)


async def drain_raw_pipelined(dbs: Databases, jobs: int, batch: int) -> Rate:
    """The raw drain with the worker's connections: claim and finish overlap on a pool."""
    cm, dsn, first, last = await _prefilled(dbs, jobs)
    try:
        return await baselines.drain_pipelined(dsn, first, last, batch)
    finally:
        await cm.__aexit__(None, None, None)


async def drain_pgqueue(
    dbs: Databases,
    jobs: int,
    processes: int,
    concurrency: int | None,
    task: str = NOOP,
    extra_args: tuple[str, ...] = (),
) -> Rate:
    cm, dsn, first, last = await _prefilled(dbs, jobs, task)
    try:
        return await _drain_with_workers(dsn, first, last, processes, concurrency, extra_args)
    finally:
        await cm.__aexit__(None, None, None)


async def drain_slow(
    dbs: Databases, jobs: int, concurrency: int | None, low_ms: float = 5.0, high_ms: float = 15.0
) -> Rate:
    """A drain of jobs that each sleep `low_ms`..`high_ms` (benchmarks.app.sleepy): I/O-bound
    work, where the rate is about concurrency / job duration."""
    cm = dbs.fresh()
    dsn = await cm.__aenter__()
    try:
        conn = await asyncpg.connect(dsn)
        try:
            first, last = await fill_ready(conn, jobs, SLEEPY)
            await conn.execute("UPDATE pgqueue.jobs SET args = $1::jsonb", f"[{low_ms}, {high_ms}]")
            await vacuum_analyze(conn)
        finally:
            await conn.close()
        return await _drain_with_workers(dsn, first, last, 1, concurrency)
    finally:
        await cm.__aexit__(None, None, None)


# -- latency -------------------------------------------------------------------------------


async def _paced(count: int, spacing: float, send: Any) -> None:
    """Call `send(time.time())` `count` times, `spacing` seconds apart."""
    start = time.perf_counter()
    for n in range(count):
        delay = start + n * spacing - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await send(time.time())


async def latency(
    dbs: Databases,
    samples: int,
    spacing: float,
    concurrency: int | None,
    blocks: int = ENQUEUE_BLOCKS,
    warmup: int = 50,
) -> dict[str, list[float]]:
    """Workload 4: enqueue -> start on an idle consumer, jobs `spacing` s apart, for an idle
    pgqueue worker process and the raw LISTEN loop (`baselines.listen_consumer`), each on its
    own database. Both are up for the whole measurement and take their probes in alternating
    blocks, as the enqueue workloads do, so a slow minute of this shared machine falls on both
    (one after the other, a p99 ratio moved between 0.56x and 2.9x from run to run). Each
    side's latencies (s), in enqueue order."""
    if samples < 1:
        raise ValueError(f"latency needs at least one sample, not {samples}")
    async with (
        dbs.fresh() as raw_dsn,
        _raw_listener(raw_dsn, warmup + samples) as raw_latencies,
        dbs.fresh() as dsn,
        App(dsn, pool_max_size=2) as app,
        worker_processes(dsn, 1, concurrency) as workers,
    ):
        raw_conn = await asyncpg.connect(raw_dsn)
        try:
            insert = await raw_conn.prepare(baselines.INSERT_NOTIFY)

            async def send_raw(now: float) -> None:
                await insert.fetch(PROBE, orjson.dumps([now]).decode(), "{}", "default")

            ids: list[int] = []

            async def send_ours(now: float) -> None:
                ids.append(await app.enqueue(PROBE, [now], allow_unknown=True))

            first = await app.enqueue(PROBE, [time.time()], allow_unknown=True)
            await app.result(first, timeout=60)  # the worker is up and listening
            await _paced(warmup, spacing, send_raw)
            await _paced(warmup, spacing, send_ours)
            ids.clear()
            await asyncio.sleep(0.5)
            for block in _blocks(samples, blocks):
                await _paced(block, spacing, send_raw)
                await asyncio.sleep(spacing)
                await _paced(block, spacing, send_ours)
                await asyncio.sleep(spacing)
        finally:
            await raw_conn.close()
        conn = await asyncpg.connect(dsn)
        try:
            await _wait_drained_checked(conn, ids[0], ids[-1], workers)
            rows = await conn.fetch(
                "SELECT result::text FROM pgqueue.jobs WHERE id = ANY($1::bigint[]) ORDER BY id",
                ids,
            )
        finally:
            await conn.close()
        ours = [float(orjson.loads(r[0])) for r in rows]
    return {"raw": raw_latencies[warmup:], "pgqueue": ours}


@contextlib.asynccontextmanager
async def _raw_listener(dsn: str, count: int) -> AsyncIterator[list[float]]:
    """The raw LISTEN loop in its own process, listening when this enters; on exit it has taken
    `count` probes, and the list yielded holds their latencies (s), in order."""
    found: list[float] = []
    with tempfile.TemporaryDirectory(prefix="pgqueue-bench-") as tmp:
        outfile = Path(tmp) / "latencies.json"
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.baselines",
            "listen",
            dsn,
            str(count),
            str(outfile),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            await asyncio.wait_for(proc.stdout.readline(), 60)  # "ready": listening
            yield found
            code = await asyncio.wait_for(proc.wait(), 60)
            if code != 0:
                raise RuntimeError(f"the raw LISTEN loop exited with {code}")
            found.extend(orjson.loads(outfile.read_bytes()))
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


# -- deep backlog --------------------------------------------------------------------------


async def _next_untouched(conn: asyncpg.Connection, lo: int, window: int) -> int:
    """The first id after everything the last round's worker claimed: it keeps claiming past its
    window until it is stopped, and a window it started on would be timed from that start."""
    claimed = await conn.fetchval(
        "SELECT max(id) FROM pgqueue.jobs WHERE id BETWEEN $1 AND $2 AND state <> 'queued'",
        lo,
        lo + 20 * window,
    )
    return int(claimed) + 1


async def deep_backlog(
    dbs: Databases, rows: int, window: int, concurrency: int, rounds: int, log: Any = print
) -> dict[str, Any]:
    """Workload 5: drain rate with `rows` ready jobs, `rows` scheduled for next week and `rows`
    finished in history. Each round drains the next `window` ready jobs of the deep database
    and, interleaved, a fresh shallow queue of `window` jobs (medians of both), so machine noise
    hits both sides alike. Then the raw batch-50 loop on the next window, for reference."""
    deep_rates: list[float] = []
    shallow_rates: list[float] = []
    async with dbs.fresh() as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            started = time.perf_counter()
            await fill_in_chunks(conn, FILL_FINISHED, rows)
            await fill_in_chunks(conn, FILL_SCHEDULED, rows)
            first, _ = await fill_ready(conn, rows)
            await vacuum_analyze(conn)
            log(f"  deep backlog: filled 3 x {rows:,} rows in {time.perf_counter() - started:.0f}s")
            size = await conn.fetchval("SELECT pg_total_relation_size('pgqueue.jobs')")
            lo = first
            for _ in range(rounds):
                rate = await _drain_with_workers(dsn, lo, lo + window - 1, 1, concurrency)
                deep_rates.append(rate.per_second)
                shallow_rates.append((await drain_pgqueue(dbs, window, 1, concurrency)).per_second)
                # What autovacuum does to a long-lived backlog between windows.
                await vacuum_analyze(conn)
                lo = await _next_untouched(conn, lo, window)
            raw = await baselines.drain(dsn, lo, lo + window - 1, 50, limit=window)
        finally:
            await conn.close()
    return {
        "pgqueue": statistics.median(deep_rates),
        "shallow": statistics.median(shallow_rates),
        "deep_rounds": deep_rates,
        "shallow_rounds": shallow_rates,
        "raw_b50": as_dict(raw),
        "rows": rows,
        "window": window,
        "table_bytes": size,
    }
