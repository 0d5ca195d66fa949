"""Single and batch enqueue, statement by statement, against the raw baselines (revision
0015_enqueue_fast, docs/benchmarks.md): interleaved in short blocks on one connection per
database, so every figure shares the moment's noise with its baseline.

    python -m benchmarks.enqueue_paths [--calls 200] [--rounds 9] [--batch 1000]

The batch rows: enqueue_many (the JSON array) at 0014 and at head, enqueue_batch (revision
0017_enqueue_batch: one array per column, what app.enqueue_many sends for batches without unique
keys or parents), each with its Python encoding, and the whole app.enqueue_many path.

Two throwaway databases, one at 0014_workflows (the SQL main had before 0015) and one at the
newest revision, each with bench.raw_jobs (pgqueue.jobs' columns, indexes and constraints, no
trigger). Medians of the rounds, in ms per job, and each one's ratio to the raw statement.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg

from benchmarks.baselines import COPY_COLUMNS, INSERT_NOTIFY
from benchmarks.db import BENCH_DSN, RAW_TABLE_DDL, admin, dsn_for
from pgqueue import App, JobRequest, migrate
from pgqueue._enqueue import batch_parameters, encode_jobs
from pgqueue._sql import query

NOOP = "benchmarks.app.noop"
BEFORE = "0014_workflows"


@contextlib.asynccontextmanager
async def database(revision: str) -> AsyncIterator[str]:
    name = f"pgqueue_bench_paths_{uuid.uuid4().hex[:8]}"
    await admin(BENCH_DSN, f"CREATE DATABASE {name}")
    dsn = dsn_for(name)
    try:
        await migrate.upgrade_async(dsn, revision)
        await admin(dsn, RAW_TABLE_DDL)
        yield dsn
    finally:
        await admin(BENCH_DSN, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def measure(
    variants: dict[str, Callable[[], Awaitable[object]]], calls: int, rounds: int, jobs: int
) -> dict[str, float]:
    """Median ms per job of each variant, `calls` calls a block, the variants in turn."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, call in variants.items():
            start = time.perf_counter()
            for _ in range(calls):
                await call()
            times[name].append((time.perf_counter() - start) / (calls * jobs) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def show(title: str, figures: dict[str, float], baseline: str) -> None:
    print(title)
    for name, ms in figures.items():
        print(f"  {name:44s} {ms:7.3f} ms/job  {figures[baseline] / ms:5.2f}x")


async def main(calls: int, rounds: int, batch: int) -> None:
    async with database(BEFORE) as old_dsn, database("head") as new_dsn:
        old, new = await asyncpg.connect(old_dsn), await asyncpg.connect(new_dsn)
        app = App(new_dsn)
        try:
            raw = await new.prepare(INSERT_NOTIFY)
            many_old = await old.prepare(query("job_enqueue_many"))
            many_new = await new.prepare(query("job_enqueue_many"))
            batch_new = await new.prepare(query("job_enqueue_batch"))
            one_new = await new.prepare(query("job_enqueue_one"))
            one_job = encode_jobs([JobRequest(task=NOOP, args=[], kwargs={})])
            for _ in range(2):  # the lane opens in the background at the second call
                await app.enqueue(NOOP, allow_unknown=True)
                await asyncio.sleep(0.3)
            single = {
                "raw INSERT + NOTIFY": lambda: raw.fetch(NOOP, "[]", "{}", "default"),
                f"pgqueue.enqueue_many, 1 job (at {BEFORE})": lambda: many_old.fetch(one_job),
                "pgqueue.enqueue_many v5, 1 job": lambda: many_new.fetch(one_job),
                "pgqueue.enqueue_one": lambda: one_new.fetch(
                    NOOP, "[]", "{}", "default", 0, None, None, None, None, None, None
                ),
                "app.enqueue (the whole path)": lambda: app.enqueue(NOOP, allow_unknown=True),
            }
            show(
                "one job per transaction",
                await measure(single, calls, rounds, 1),
                "raw INSERT + NOTIFY",
            )

            requests = [JobRequest(task=NOOP, args=[], kwargs={}) for _ in range(batch)]
            records = [(NOOP, "[]", "{}", "default")] * batch

            async def copy() -> None:
                async with new.transaction():
                    await new.copy_records_to_table(
                        "raw_jobs", schema_name="bench", records=records, columns=COPY_COLUMNS
                    )
                    await new.execute("SELECT pg_notify('bench_raw', 'default')")

            batches = {
                "raw COPY + NOTIFY": copy,
                f"pgqueue.enqueue_many (at {BEFORE})": lambda: many_old.fetch(
                    encode_jobs(requests)
                ),
                "pgqueue.enqueue_many v5": lambda: many_new.fetch(encode_jobs(requests)),
                "pgqueue.enqueue_batch": lambda: batch_new.fetchval(
                    *(batch_parameters(requests) or ())
                ),
                "app.enqueue_many (the whole path)": lambda: app.enqueue_many(requests),
            }
            figures = await measure(batches, max(1, calls // 20), rounds, batch)
            show(f"batches of {batch}", figures, "raw COPY + NOTIFY")
        finally:
            await app.close()
            await old.close()
            await new.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.enqueue_paths", description=__doc__)
    parser.add_argument("--calls", type=int, default=200, help="single enqueues per block")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.rounds, args.batch))
