"""Workload 11 (issue 18 goal 7): a transaction holding the xmin horizon under a fixed enqueue
rate. `python -m benchmarks.run --own-cluster --only horizon` (not in the default run).

Four producers enqueue `probe` jobs one per transaction at `--horizon-rate` jobs/s and one
worker process (default settings) keeps up, in three phases: `--horizon-before` seconds as
usual; `--horizon-hold` seconds while another session keeps a REPEATABLE READ snapshot open
(its xmin holds back what vacuum may remove, as a long report or a forgotten transaction does);
`--horizon-after` seconds once it ended. Reported per phase: completed jobs/s and latency (from
the rows), and `jobs_claim_idx`'s size at the end of each phase and at the end of the run (after
a final `VACUUM`). With `--horizon-reindex` the same run does a `REINDEX INDEX CONCURRENTLY` of
it right after the hold ends, to see what that buys.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import asyncpg
import orjson

from benchmarks.db import Databases
from benchmarks.report import INFO, Row, ms
from benchmarks.soak import PROBE, _produce, _until_empty
from benchmarks.workers import worker_processes
from pgqueue import App

INDEX = "pgqueue.jobs_claim_idx"

SAMPLE = f"""
SELECT extract(epoch FROM clock_timestamp())::float8 AS at,
       pg_relation_size('{INDEX}') AS claim_idx_bytes,
       (SELECT count(*) FROM pgqueue.jobs WHERE state = 'queued') AS queued,
       s.n_dead_tup, s.autovacuum_count
FROM pg_stat_user_tables AS s
WHERE s.relid = 'pgqueue.jobs'::regclass
"""

# What a claim pays to find the head of the queue: the claim's own scan of jobs_claim_idx
# (without its locks), its buffers and time. With a worker keeping up the queue is nearly empty,
# so this is mostly the index entries of already-claimed jobs that vacuum may not remove yet.
CLAIM_SCAN = """
EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)
SELECT id FROM pgqueue.jobs
WHERE state = 'queued' AND queue = 'default' AND NOT limited
ORDER BY priority DESC, run_at, id
LIMIT 10
"""

# What the bounded claim (job_claim_after.sql) pays, with the key of the newest job claimed
# (by id: one short backward walk of jobs_pkey) standing in for the worker's cursor: its first
# branch, from there on (the probe jobs all have priority 0).
NEWEST_KEY = """
SELECT priority, run_at, id FROM pgqueue.jobs WHERE state <> 'queued' ORDER BY id DESC LIMIT 1
"""
BOUNDED_SCAN = """
EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)
SELECT id FROM pgqueue.jobs
WHERE state = 'queued' AND queue = 'default' AND NOT limited
  AND priority = $1::integer AND (run_at, id) > ($2::timestamptz, $3::bigint)
ORDER BY priority DESC, run_at, id
LIMIT 10
"""

ENQUEUED = """
SELECT count(*) FROM pgqueue.jobs
WHERE task = $1 AND enqueued_at >= to_timestamp($2) AND enqueued_at < to_timestamp($3)
"""

PHASE = """
SELECT count(*) AS jobs,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY result::text::float8) * 1000 AS p50_ms,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY result::text::float8) * 1000 AS p99_ms
FROM pgqueue.jobs
WHERE task = $1 AND state = 'succeeded'
  AND finished_at >= to_timestamp($2) AND finished_at < to_timestamp($3)
"""


async def horizon(
    dbs: Databases,
    rate: float,
    before: float,
    hold: float,
    after: float,
    concurrency: int,
    *,
    reindex: bool = False,
) -> dict[str, Any]:
    samples: list[dict[str, Any]] = []
    async with (
        dbs.fresh() as dsn,
        App(dsn, pool_max_size=4) as app,
        worker_processes(dsn, 1, concurrency),
    ):
        first = await app.enqueue(PROBE, [time.time()], allow_unknown=True)
        await app.result(first, timeout=60)
        conn = await asyncpg.connect(dsn)
        holder = await asyncpg.connect(dsn)
        sampler_conn = await asyncpg.connect(dsn)
        stop = asyncio.Event()
        sampler = asyncio.create_task(_sample(sampler_conn, samples, stop))
        started = time.time()
        producing = asyncio.create_task(_produce(app, before + hold + after, rate))
        marks = await _phases(conn, holder, before, hold, reindex)
        enqueued = await producing
        ended = time.time()
        await _until_empty(conn, timeout=600)
        drained = time.time()
        stop.set()
        await sampler
        phases = await _phase_figures(conn, started, marks, ended)
        await conn.execute("VACUUM pgqueue.jobs")
        final_idx = await conn.fetchval(f"SELECT pg_relation_size('{INDEX}')")
        for c in (conn, holder, sampler_conn):
            await c.close()
    for s in samples:
        s["t"] = s.pop("at") - started
    return {
        "rate": rate,
        "before": before,
        "hold": hold,
        "after": after,
        "reindex": reindex,
        "enqueued": enqueued,
        "catch_up_seconds": drained - ended,
        "phases": phases,
        "claim_idx_bytes": {
            "start": samples[0]["claim_idx_bytes"] if samples else 0,
            **{name: _size_at(samples, marks[name] - started) for name in ("hold", "after")},
            "end": samples[-1]["claim_idx_bytes"] if samples else 0,
            "max": max((s["claim_idx_bytes"] for s in samples), default=0),
            "after_vacuum": final_idx,
        },
        "claim_scan": {
            name: _claim_at(samples, lo - started, hi - started)
            for name, (lo, hi) in {
                "before": (started, marks["hold"]),
                "during": (marks["hold"], marks["after"]),
                "after": (marks["after"], ended),
                "drained": (ended, drained + 1),
            }.items()
        },
        "samples": samples,
    }


def _claim_at(samples: list[dict[str, Any]], lo: float, hi: float) -> dict[str, float]:
    """The claim scan's buffers and time in the samples between lo and hi: the last, the max."""
    inside = [s for s in samples if lo <= s["t"] < hi] or samples[-1:]
    return {
        "max_bounded_buffers": max((s.get("bounded_buffers", 0) for s in inside), default=0),
        "max_bounded_ms": max((s.get("bounded_ms", 0.0) for s in inside), default=0.0),
        "last_buffers": inside[-1]["claim_buffers"] if inside else 0,
        "max_buffers": max((s["claim_buffers"] for s in inside), default=0),
        "last_ms": inside[-1]["claim_ms"] if inside else 0.0,
        "max_ms": max((s["claim_ms"] for s in inside), default=0.0),
    }


async def _phases(
    conn: asyncpg.Connection, holder: asyncpg.Connection, before: float, hold: float, reindex: bool
) -> dict[str, float]:
    """Wait `before`, hold a snapshot for `hold` seconds, release it; the phase start times."""
    await asyncio.sleep(before)
    marks = {"hold": time.time()}
    transaction = holder.transaction(isolation="repeatable_read")
    await transaction.start()
    await holder.fetchval("SELECT count(*) FROM pgqueue.jobs")  # takes the snapshot
    await asyncio.sleep(hold)
    await transaction.rollback()
    marks["after"] = time.time()
    if reindex:
        await conn.execute(f"REINDEX INDEX CONCURRENTLY {INDEX}")
        marks["reindexed"] = time.time()
    return marks


async def _phase_figures(
    conn: asyncpg.Connection, started: float, marks: dict[str, float], ended: float
) -> dict[str, dict[str, float]]:
    bounds = {
        "before": (started, marks["hold"]),
        "during": (marks["hold"], marks["after"]),
        "after": (marks["after"], ended),
    }
    figures = {}
    for name, (lo, hi) in bounds.items():
        row = await conn.fetchrow(PHASE, PROBE, lo, hi)
        figures[name] = {
            "rate": row["jobs"] / (hi - lo),
            "enqueued_rate": await conn.fetchval(ENQUEUED, PROBE, lo, hi) / (hi - lo),
            "p50_ms": row["p50_ms"] or 0.0,
            "p99_ms": row["p99_ms"] or 0.0,
        }
    return figures


def _size_at(samples: list[dict[str, Any]], t: float) -> int:
    """The index size in the last sample before `t` (seconds after the start)."""
    earlier = [s for s in samples if s["t"] <= t] or samples[:1]
    return int(earlier[-1]["claim_idx_bytes"]) if earlier else 0


async def _sample(
    conn: asyncpg.Connection, samples: list[dict[str, Any]], stop: asyncio.Event
) -> None:
    while True:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        sample = dict(await conn.fetchrow(SAMPLE))
        [explained] = orjson.loads(await conn.fetchval(CLAIM_SCAN))
        plan = explained["Plan"]
        sample["claim_buffers"] = plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]
        sample["claim_ms"] = explained["Execution Time"]
        key = await conn.fetchrow(NEWEST_KEY)
        if key is not None:
            [explained] = orjson.loads(await conn.fetchval(BOUNDED_SCAN, *key.values()))
            plan = explained["Plan"]
            sample["bounded_buffers"] = plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]
            sample["bounded_ms"] = explained["Execution Time"]
        samples.append(sample)
        if stop.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


def rows(h: dict[str, Any]) -> list[Row]:
    phases, size, scan = h["phases"], h["claim_idx_bytes"], h["claim_scan"]
    before = phases["before"]["rate"]
    title = f"11. xmin held {h['hold']:.0f}s at {h['rate']:.0f} jobs/s" + (
        ", REINDEX CONCURRENTLY after" if h["reindex"] else ""
    )
    return [
        Row(
            f"{title}: throughput during / before",
            f"{phases['during']['rate']:,.0f} jobs/s",
            f"before {before:,.0f} jobs/s (enqueued {phases['before']['enqueued_rate']:,.0f} "
            f"/ {phases['during']['enqueued_rate']:,.0f} jobs/s)",
            f"{phases['during']['rate'] / before:.2f}x" if before else "",
            ">= 0.80x",
            "PASS" if before and phases["during"]["rate"] >= 0.8 * before else "FAIL",
        ),
        Row(
            "11. throughput after the hold (catch-up)",
            f"{phases['after']['rate']:,.0f} jobs/s",
            f"backlog gone {h['catch_up_seconds']:.1f}s after the producers stopped",
            "",
            "",
            INFO,
        ),
        Row(
            "11. latency p50 / p99 before, during, after",
            "; ".join(
                f"{ms(phases[p]['p50_ms'])} / {ms(phases[p]['p99_ms'])}"
                for p in ("before", "during", "after")
            ),
            "",
            "",
            "",
            INFO,
        ),
        Row(
            "11. jobs_claim_idx: start, end of hold, end, after VACUUM",
            " / ".join(
                f"{size[k] / 1024:,.0f} kB" for k in ("start", "after", "end", "after_vacuum")
            ),
            f"max {size['max'] / 1024:,.0f} kB",
            "",
            "bounded",
            INFO,
        ),
        Row(
            "11. claim scan: buffers (ms), max before / end of hold / end / drained",
            " / ".join(
                f"{scan[p][k]:,.0f} ({scan[p][t]:.2f})"
                for p, k, t in (
                    ("before", "max_buffers", "max_ms"),
                    ("during", "last_buffers", "last_ms"),
                    ("after", "last_buffers", "last_ms"),
                    ("drained", "last_buffers", "last_ms"),
                )
            ),
            f"max after the hold {scan['after']['max_buffers']:,.0f}",
            "",
            "",
            INFO,
        ),
        Row(
            "11. bounded claim scan (after the newest claimed key): buffers (ms), max before / "
            "during / after",
            " / ".join(
                f"{scan[p]['max_bounded_buffers']:,.0f} ({scan[p]['max_bounded_ms']:.2f})"
                for p in ("before", "during", "after")
            ),
            "",
            "",
            "",
            INFO,
        ),
    ]
