"""Filling queues and reading results back from the database.

Drain rates come from the rows themselves (first started_at to last finished_at of the jobs in
a window of ids), so process start-up, connection set-up and the polling that notices the end
are not counted, for pgqueue and the raw loops alike.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import asyncpg


@dataclass(frozen=True)
class Rate:
    jobs: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.jobs / self.seconds if self.seconds > 0 else 0.0


FILL_READY = """
INSERT INTO pgqueue.jobs (task, args, kwargs, queue)
SELECT $1, '[]', '{}', 'default' FROM generate_series(1, $2::int)
"""

FILL_SCHEDULED = """
INSERT INTO pgqueue.jobs (task, args, kwargs, queue, state, run_at)
SELECT 'benchmarks.app.noop', '[]', '{}', 'default', 'scheduled', now() + interval '7 days' + n * interval '1 ms'
FROM generate_series(1, $1::int) AS n
"""

FILL_FINISHED = """
INSERT INTO pgqueue.jobs
    (task, args, kwargs, queue, state, attempts, run_at, enqueued_at, started_at, finished_at,
     result)
SELECT 'benchmarks.app.noop', '[]', '{}', 'default', 'succeeded', 1, t, t, t, t + interval '1 ms', 'null'
FROM (SELECT now() - interval '1 day' + n * interval '10 ms' AS t
      FROM generate_series(1, $1::int) AS n) AS s
"""


async def fill_ready(
    conn: asyncpg.Connection, jobs: int, task: str = "benchmarks.app.noop"
) -> tuple[int, int]:
    """Insert `jobs` ready jobs in chunks; returns the first and last id."""
    first = last = 0
    chunk = 250_000
    for offset in range(0, jobs, chunk):
        n = min(chunk, jobs - offset)
        ids = await conn.fetchrow(
            f"WITH i AS ({FILL_READY} RETURNING id) SELECT min(id), max(id) FROM i", task, n
        )
        first = first or ids[0]
        last = ids[1]
    return first, last


async def fill_in_chunks(conn: asyncpg.Connection, sql: str, rows: int) -> None:
    chunk = 250_000
    for offset in range(0, rows, chunk):
        await conn.execute(sql, min(chunk, rows - offset))


async def vacuum_analyze(conn: asyncpg.Connection) -> None:
    """What autovacuum and the checkpointer would have done by the time a real backlog, built up
    over time, is drained: otherwise the fill's dirty pages are written out during the drain."""
    await conn.execute("VACUUM (ANALYZE) pgqueue.jobs")
    await conn.execute("CHECKPOINT")


async def wait_drained(
    conn: asyncpg.Connection, first: int, last: int, timeout: float = 1800.0
) -> None:
    deadline = time.monotonic() + timeout
    pending = await conn.prepare(
        "SELECT count(*) FROM pgqueue.jobs WHERE id BETWEEN $1 AND $2 AND state <> 'succeeded'"
    )
    while await pending.fetchval(first, last):
        if time.monotonic() > deadline:
            raise TimeoutError(f"jobs {first}..{last} not drained within {timeout}s")
        await asyncio.sleep(0.25)


async def drain_window(conn: asyncpg.Connection, first: int, last: int) -> Rate:
    row = await conn.fetchrow(
        """
        SELECT count(*) AS jobs,
               extract(epoch FROM max(finished_at) - min(started_at))::float8 AS seconds
        FROM pgqueue.jobs
        WHERE id BETWEEN $1 AND $2 AND state = 'succeeded'
        """,
        first,
        last,
    )
    return Rate(int(row["jobs"]), float(row["seconds"] or 0.0))


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p95/p99/max of `values` (seconds) in milliseconds."""
    if not values:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0, "n": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
        return ordered[index] * 1000.0

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": at(1.0), "n": len(ordered)}


def as_dict(rate: Rate) -> dict[str, Any]:
    return {"jobs": rate.jobs, "seconds": rate.seconds, "per_second": rate.per_second}
