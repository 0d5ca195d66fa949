"""What a single enqueue's statement costs the server (issue 18 goal 1, docs/benchmarks.md
"Single enqueue: the statement's own cost"): job_insert_one.sql as it is, two reshapings of it
that were measured and not kept (the pgqueue.limits probes only when the table has a row; the
wake-up from RETURNING instead of a CTE around the INSERT) and the statement without the limits
lookup at all (the floor), each against the raw INSERT + NOTIFY of the benchmark's goal-1 row
(into bench.raw_jobs, a copy of pgqueue.jobs with its indexes and checks).

    python -m benchmarks.insert_cost [--rounds 40] [--limits 0] [--plan-cache-mode MODE]

One connection on a fresh migrated database runs every variant in alternated blocks of 100
autocommitted jobs. Per variant: the median block's wall time per job, and the backend's own
CPU time per job (/proc/<backend pid>/schedstat, so the server must run on this machine): the
CPU figure is the steadier one, since much of the wall time is the commit's WAL flush, which
varies with the disk.
`--limits N` first writes N task limits that match no job (a database that uses limits).
`--plan-cache-mode MODE` sets PostgreSQL's plan_cache_mode on the connection first.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

import asyncpg

from benchmarks.baselines import INSERT_NOTIFY
from benchmarks.db import Databases
from pgqueue._sql import query

BLOCK = 100

RAW = INSERT_NOTIFY

CURRENT = query("job_insert_one")
LIMITS_LOOKUP = """EXISTS (SELECT 1 FROM pgqueue.limits AS l WHERE l.scope = 'task' AND l.name = v.task)
           OR EXISTS (SELECT 1 FROM pgqueue.limits AS l
                      WHERE l.scope = 'queue' AND l.name = v.queue)"""
_WAKE_UP_IN_A_CTE = (
    "WITH inserted AS (",
    """    RETURNING j.id, j.queue, j.state
)
SELECT i.id,
       CASE WHEN i.state = 'queued' THEN pg_notify('pgqueue_jobs', i.queue) END AS woken
FROM inserted AS i""",
)
assert LIMITS_LOOKUP in CURRENT and all(part in CURRENT for part in _WAKE_UP_IN_A_CTE)


def _wake_up_from_returning(sql: str) -> str:
    return sql.replace(_WAKE_UP_IN_A_CTE[0], "").replace(
        _WAKE_UP_IN_A_CTE[1],
        "    RETURNING j.id, "
        "CASE WHEN j.state = 'queued' THEN pg_notify('pgqueue_jobs', j.queue) END AS woken",
    )


VARIANTS = {
    "raw INSERT + NOTIFY": RAW,
    "job_insert_one.sql": CURRENT,
    "probes only if a limit exists": CURRENT.replace(
        LIMITS_LOOKUP,
        f"CASE WHEN EXISTS (SELECT FROM pgqueue.limits) THEN {LIMITS_LOOKUP} ELSE false END",
    ),
    "wake-up from RETURNING, no CTE": _wake_up_from_returning(CURRENT),
    "no limits lookup (the floor)": CURRENT.replace(LIMITS_LOOKUP, "false"),
}
ARGUMENTS = ("noop", "[]", "{}", "default", 0, None, None, None, None, None)


def _cpu_ns(schedstat: Path) -> int:
    """The backend's time on a CPU so far (reading /proc does not wait on a disk)."""
    return int(schedstat.read_text().split()[0])


async def main(rounds: int, limits: int, plan_cache_mode: str | None) -> None:
    dbs = Databases()
    try:
        async with dbs.fresh() as dsn:
            conn = await asyncpg.connect(dsn)
            try:
                if plan_cache_mode is not None:
                    await conn.execute(
                        "SELECT set_config('plan_cache_mode', $1, false)", plan_cache_mode
                    )
                await _measure(conn, rounds, limits)
            finally:
                await conn.close()
    finally:
        await dbs.close()


async def _measure(conn: asyncpg.Connection, rounds: int, limits: int) -> None:
    await conn.execute(
        "INSERT INTO pgqueue.limits (scope, name, concurrency) "
        "SELECT 'task', 'bench_' || n, 2 FROM generate_series(1, $1) AS n",
        limits,
    )
    backend = Path(f"/proc/{await conn.fetchval('SELECT pg_backend_pid()')}/schedstat")
    statements = {}
    for name, sql in VARIANTS.items():
        statements[name] = (await conn.prepare(sql), ARGUMENTS[:4] if sql is RAW else ARGUMENTS)
        for _ in range(BLOCK // 5):  # past the custom plans, as a long-lived connection is
            await statements[name][0].fetchrow(*statements[name][1])
    wall: dict[str, list[float]] = {name: [] for name in VARIANTS}
    cpu_ns = dict.fromkeys(VARIANTS, 0)
    names = list(statements)
    for round_ in range(rounds):
        # Each round starts at the next variant: none always follows the same one.
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            statement, arguments = statements[name]
            cpu_before = _cpu_ns(backend)
            start = time.perf_counter()
            for _ in range(BLOCK):
                await statement.fetchrow(*arguments)
            wall[name].append(time.perf_counter() - start)
            cpu_ns[name] += _cpu_ns(backend) - cpu_before
    jobs = rounds * BLOCK
    raw_wall = statistics.median(wall["raw INSERT + NOTIFY"]) / BLOCK
    raw_cpu = cpu_ns["raw INSERT + NOTIFY"] / jobs
    print(f"{rounds} rounds of {BLOCK} jobs per variant, {limits} limit rows; per job:")
    print(f"{'variant':36s} {'wall':>9s} {'raw/this':>9s} {'backend CPU':>12s} {'x raw':>7s}")
    for name in VARIANTS:
        per_job = statistics.median(wall[name]) / BLOCK
        cpu = cpu_ns[name] / jobs
        print(
            f"{name:36s} {per_job * 1e6:7.1f}us {raw_wall / per_job:8.3f}x "
            f"{cpu / 1e3:10.1f}us {cpu / raw_cpu:6.3f}x"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--limits", type=int, default=0)
    parser.add_argument(
        "--plan-cache-mode", choices=("auto", "force_generic_plan", "force_custom_plan")
    )
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.limits, args.plan_cache_mode))
