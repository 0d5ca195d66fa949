"""Workload 6: a fixed enqueue rate for a while, a worker keeping up; throughput, latency, dead
tuples and sizes over time, and a PNG of them.

Four producers enqueue `probe` jobs one per transaction on a 10 ms tick; catalog figures are
sampled while it runs; throughput and latency per bucket are read back from the rows afterwards
(one scan at the end instead of queries that would load the machine during the run).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import asyncpg

from benchmarks.db import Databases
from benchmarks.workers import worker_processes
from pgqueue import App

PROBE = "benchmarks.app.probe"

SAMPLE = """
SELECT extract(epoch FROM clock_timestamp())::float8 AS at,
       s.n_live_tup, s.n_dead_tup, s.autovacuum_count, s.autoanalyze_count,
       pg_table_size('pgqueue.jobs') AS table_bytes,
       pg_indexes_size('pgqueue.jobs') AS index_bytes,
       (SELECT count(*) FROM pgqueue.jobs WHERE state = 'queued') AS queued
FROM pg_stat_user_tables AS s
WHERE s.relid = 'pgqueue.jobs'::regclass
"""

BUCKETS = """
SELECT floor((extract(epoch FROM finished_at) - $1) / $2)::int AS bucket,
       count(*) AS jobs,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY result::text::float8) * 1000 AS p50_ms,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY result::text::float8) * 1000 AS p99_ms
FROM pgqueue.jobs
WHERE task = $3 AND state = 'succeeded'
GROUP BY 1 ORDER BY 1
"""


async def soak(
    dbs: Databases,
    seconds: float,
    rate: float,
    concurrency: int,
    *,
    bucket: float | None = None,
) -> dict[str, Any]:
    bucket = bucket or max(5.0, seconds / 60)
    samples: list[dict[str, Any]] = []
    async with (
        dbs.fresh() as dsn,
        App(dsn, pool_max_size=4) as app,
        worker_processes(dsn, 1, concurrency),
    ):
        first = await app.enqueue(PROBE, [time.time()], allow_unknown=True)
        await app.result(first, timeout=60)
        # The sampler has a connection of its own: one connection runs one query at a time.
        conn = await asyncpg.connect(dsn)
        sampler_conn = await asyncpg.connect(dsn)
        started = time.time()
        stop = asyncio.Event()
        sampler = asyncio.create_task(_sample(sampler_conn, samples, bucket, stop))
        enqueued = await _produce(app, seconds, rate)
        # Let the worker finish what is queued, then one last sample.
        await _until_empty(conn, timeout=120)
        stop.set()
        await sampler
        rows = await conn.fetch(BUCKETS, started, bucket, PROBE)
        autovacuum = await conn.fetchval("SHOW autovacuum")
        await sampler_conn.close()
        await conn.close()
    buckets = [
        {
            "t": (r["bucket"] + 0.5) * bucket,
            "rate": r["jobs"] / bucket,
            "p50_ms": r["p50_ms"],
            "p99_ms": r["p99_ms"],
        }
        for r in rows
        if r["bucket"] >= 0
    ]
    for s in samples:
        s["t"] = s.pop("at") - started
    return {
        "seconds": seconds,
        "rate": rate,
        "enqueued": enqueued,
        "bucket": bucket,
        "autovacuum": autovacuum,
        "buckets": buckets,
        "samples": samples,
        **_summary(buckets, samples, seconds, bucket),
    }


async def _produce(app: App, seconds: float, rate: float, producers: int = 4) -> int:
    """`producers` concurrent enqueuers (as in a web application) sharing `rate` jobs/s, one job
    per transaction; each catches up if a slow enqueue made it fall behind."""
    sent = await asyncio.gather(
        *(_produce_one(app, seconds, rate / producers) for _ in range(producers))
    )
    return sum(sent)


async def _produce_one(app: App, seconds: float, rate: float) -> int:
    tick = 0.01
    start = time.perf_counter()
    sent = 0
    n = 0
    while (elapsed := time.perf_counter() - start) < seconds:
        due = int(elapsed * rate) + 1
        while sent < due:
            await app.enqueue(PROBE, [time.time()], allow_unknown=True)
            sent += 1
        n += 1
        delay = start + n * tick - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    return sent


async def _sample(
    conn: asyncpg.Connection, samples: list[dict[str, Any]], every: float, stop: asyncio.Event
) -> None:
    while True:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        samples.append(dict(await conn.fetchrow(SAMPLE)))
        if stop.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def _until_empty(conn: asyncpg.Connection, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while await conn.fetchval(
        "SELECT count(*) FROM pgqueue.jobs WHERE state IN ('queued', 'running')"
    ):
        if time.monotonic() > deadline:
            raise TimeoutError("the worker did not keep up with the soak")
        await asyncio.sleep(0.2)


def _summary(
    buckets: list[dict[str, Any]], samples: list[dict[str, Any]], seconds: float, bucket: float
) -> dict[str, Any]:
    # Whole buckets inside the producing period only: the first and last are partial.
    steady = [
        b for b in buckets if bucket <= b["t"] - bucket / 2 and b["t"] + bucket / 2 <= seconds
    ]
    rates = [b["rate"] for b in steady] or [0.0]
    mean = sum(rates) / len(rates)
    deviation = max(abs(r - mean) / mean for r in rates) if mean else 0.0
    dead = [s["n_dead_tup"] for s in samples]
    half = len(dead) // 2
    return {
        "mean_rate": mean,
        "max_deviation": deviation,
        "p50_ms": _median([b["p50_ms"] for b in steady]),
        "p99_ms": max((b["p99_ms"] for b in steady), default=0.0),
        "dead_max": max(dead, default=0),
        "dead_max_first_half": max(dead[:half], default=0),
        "dead_max_second_half": max(dead[half:], default=0),
        "autovacuums": (samples[-1]["autovacuum_count"] - samples[0]["autovacuum_count"])
        if samples
        else 0,
        "table_bytes_end": samples[-1]["table_bytes"] if samples else 0,
        "index_bytes_end": samples[-1]["index_bytes"] if samples else 0,
    }


def _median(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def plot(result: dict[str, Any], path: Path) -> None:
    """Four panels over time: throughput, latency, dead tuples, sizes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    buckets, samples = result["buckets"], result["samples"]
    fig, axes = plt.subplots(4, 1, figsize=(9, 11), sharex=True)
    fig.suptitle(
        f"pgqueue soak: {result['rate']:.0f} jobs/s enqueued for {result['seconds']:.0f}s, "
        "one worker process"
    )
    t = [b["t"] for b in buckets]
    axes[0].plot(t, [b["rate"] for b in buckets], label="completed jobs/s")
    axes[0].axhline(result["rate"], color="grey", linestyle="--", label="enqueue rate")
    axes[0].set_ylabel("jobs/s")
    top = max([b["rate"] for b in buckets] + [result["rate"]])
    axes[0].set_ylim(0, top * 1.3)
    axes[1].plot(t, [b["p50_ms"] for b in buckets], label="p50")
    axes[1].plot(t, [b["p99_ms"] for b in buckets], label="p99")
    axes[1].set_ylabel("enqueue -> start (ms)")
    axes[1].set_ylim(bottom=0)
    st = [s["t"] for s in samples]
    axes[2].plot(st, [s["n_dead_tup"] for s in samples], label="n_dead_tup")
    axes[2].plot(st, [s["queued"] for s in samples], label="queued jobs")
    axes[2].set_ylabel("rows")
    mb = 1024 * 1024
    axes[3].plot(st, [s["table_bytes"] / mb for s in samples], label="table")
    axes[3].plot(st, [s["index_bytes"] / mb for s in samples], label="indexes")
    axes[3].set_ylabel("MB")
    axes[3].set_xlabel("seconds")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right" if ax is axes[0] else "upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    # Re-draw the plot from a saved run: python -m benchmarks.soak RESULTS.json OUT.png
    import sys

    import orjson

    if len(sys.argv) != 3:
        sys.exit("usage: python -m benchmarks.soak RESULTS.json OUT.png")
    plot(orjson.loads(Path(sys.argv[1]).read_bytes())["results"]["soak"], Path(sys.argv[2]))
