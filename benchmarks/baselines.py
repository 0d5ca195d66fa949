"""The raw-SQL baselines: the machine's limit for each workload, measured in the same run.

Each loop is what a careful engineer would write by hand with asyncpg, on the same database
and the same table shape, with no task dispatch: prepared statements, one round trip per batch.

    python -m benchmarks.baselines listen DSN COUNT OUTFILE   (the raw LISTEN consumer process)
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import orjson

from benchmarks.measure import Rate, drain_window

RAW_CHANNEL = "bench_raw"

# Claim a batch with SKIP LOCKED in pgqueue's claim order and mark it running; the payload comes
# back as a real consumer needs it. `NOT limited` (jobs without flow-control limits, as every
# benchmark job is) puts the scan on jobs_claim_idx's order (queue, limited, priority DESC, run_at,
# id); without it the claim sorted the queue each time and the baseline ran at a third of its
# speed (since 0013_limits, found by issue 9's before/after run).
CLAIM = """
WITH c AS (
    SELECT id FROM pgqueue.jobs
    WHERE state = 'queued' AND queue = $1 AND NOT limited
    ORDER BY priority DESC, run_at, id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE pgqueue.jobs AS j
SET state = 'running', attempts = j.attempts + 1, started_at = now(), worker_id = $3::uuid
FROM c WHERE j.id = c.id
RETURNING j.id, j.task, j.args::text, j.kwargs::text
"""

DONE = """
UPDATE pgqueue.jobs
SET state = 'succeeded', finished_at = now(), worker_id = NULL
WHERE id = ANY($1::bigint[]) AND state = 'running'
"""

# The absolute floor: claim and finish in one statement (no 'running' state a crash could
# recover from). Shown for information only.
CLAIM_AND_DONE = """
WITH c AS (
    SELECT id FROM pgqueue.jobs
    WHERE state = 'queued' AND queue = $1 AND NOT limited
    ORDER BY priority DESC, run_at, id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE pgqueue.jobs AS j
SET state = 'succeeded', attempts = j.attempts + 1, started_at = now(), finished_at = now()
FROM c WHERE j.id = c.id
RETURNING j.id, j.task, j.args::text, j.kwargs::text
"""

INSERT_NOTIFY = """
WITH i AS (
    INSERT INTO bench.raw_jobs (task, args, kwargs, queue)
    VALUES ($1, $2::jsonb, $3::jsonb, $4)
    RETURNING id, queue
)
SELECT i.id, pg_notify('bench_raw', i.queue) FROM i
"""

COPY_COLUMNS = ("task", "args", "kwargs", "queue")


async def drain(
    dsn: str,
    first: int,
    last: int,
    batch: int,
    *,
    one_statement: bool = False,
    limit: int | None = None,
) -> Rate:
    """Drain the queue (or `limit` jobs of it) with one connection; the rate of jobs first..last
    comes from the rows' timestamps."""
    conn = await asyncpg.connect(dsn)
    worker = str(uuid.uuid4())
    remaining = limit if limit is not None else 2**62
    try:
        if one_statement:
            claim = await conn.prepare(CLAIM_AND_DONE)
            while remaining > 0 and (rows := await claim.fetch("default", batch)):
                remaining -= len(rows)
        else:
            claim = await conn.prepare(CLAIM)
            done = await conn.prepare(DONE)
            while remaining > 0 and (rows := await claim.fetch("default", batch, worker)):
                await done.fetch([r[0] for r in rows])
                remaining -= len(rows)
        return await drain_window(conn, first, last)
    finally:
        await conn.close()


# What the worker's fetch and flush loops share (pgqueue's defaults): a pool of up to 10
# connections, outcomes written up to 200 per statement, and no more claims while 5 batches of
# outcomes wait to be written.
POOL_MAX_SIZE = 10
FLUSH_BATCH = 200
BACKLOG_BATCHES = 5


async def drain_pipelined(
    dsn: str,
    first: int,
    last: int,
    batch: int,
    *,
    connections: int = POOL_MAX_SIZE,
    flush_batch: int = FLUSH_BATCH,
) -> Rate:
    """Drain the queue the way the worker does, minus task dispatch: claims of up to `batch`
    jobs (the worker claims up to its concurrency) on one pooled connection while another
    writes the finished ones in batches of up to `flush_batch`, the two overlapping on a pool
    of up to `connections`, with the worker's back-pressure on unwritten outcomes. The raw
    counterpart of a worker process; `drain` is the one-connection, claim-then-finish loop."""
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=connections)
    assert pool is not None
    worker = str(uuid.uuid4())
    finished: list[int] = []
    added, written = asyncio.Event(), asyncio.Event()
    claiming = True

    async def claim_loop() -> None:
        nonlocal claiming
        async with pool.acquire() as conn:
            claim = await conn.prepare(CLAIM)
            while True:
                while len(finished) >= BACKLOG_BATCHES * flush_batch:
                    written.clear()
                    await written.wait()
                rows = await claim.fetch("default", batch, worker)
                if not rows:
                    break
                finished.extend(r[0] for r in rows)  # a no-op task: finished at once
                added.set()
        claiming = False
        added.set()

    async def flush_loop() -> None:
        async with pool.acquire() as conn:
            done = await conn.prepare(DONE)
            while claiming or finished:
                await added.wait()
                added.clear()
                while finished:
                    ids = finished[:flush_batch]
                    await done.fetch(ids)
                    del finished[: len(ids)]
                    written.set()

    try:
        await asyncio.gather(claim_loop(), flush_loop())
        async with pool.acquire() as conn:
            return await drain_window(conn, first, last)
    finally:
        await pool.close()


async def copy_batches(conn: asyncpg.Connection, jobs: int, batch: int) -> None:
    """`jobs` rows by binary COPY, `batch` per transaction, each with one NOTIFY."""
    records = [("benchmarks.app.noop", "[]", "{}", "default")] * batch
    for offset in range(0, jobs, batch):
        chunk = records[: min(batch, jobs - offset)]
        async with conn.transaction():
            await conn.copy_records_to_table(
                "raw_jobs", schema_name="bench", records=chunk, columns=COPY_COLUMNS
            )
            await conn.execute("SELECT pg_notify('bench_raw', 'default')")


async def listen_consumer(dsn: str, count: int) -> list[float]:
    """The raw latency consumer: LISTEN, and on each NOTIFY claim everything ready."""
    conn = await asyncpg.connect(dsn)
    wake = asyncio.Event()
    # Prepared before LISTEN: asyncpg leaves a bare prepare() open until the next command, and
    # an open transaction holds back notifications.
    claim = await conn.prepare(
        """
        WITH c AS (
            SELECT id FROM bench.raw_jobs
            WHERE state = 'queued' AND queue = 'default'
            ORDER BY priority DESC, run_at, id
            LIMIT 10
            FOR UPDATE SKIP LOCKED
        )
        UPDATE bench.raw_jobs AS j
        SET state = 'succeeded', attempts = j.attempts + 1, started_at = now(), finished_at = now()
        FROM c WHERE j.id = c.id
        RETURNING j.args::text
        """
    )
    await conn.add_listener(RAW_CHANNEL, lambda *_: wake.set())
    latencies: list[float] = []
    print("ready", flush=True)
    while len(latencies) < count:
        await wake.wait()
        wake.clear()
        while rows := await claim.fetch():
            now = time.time()
            latencies.extend(now - orjson.loads(r[0])[0] for r in rows)
    await conn.close()
    return latencies


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "listen":
        found = asyncio.run(listen_consumer(sys.argv[2], int(sys.argv[3])))
        Path(sys.argv[4]).write_bytes(orjson.dumps(found))
    else:
        sys.exit("usage: python -m benchmarks.baselines listen DSN COUNT OUTFILE")
