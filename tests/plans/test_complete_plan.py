"""job_complete_many must look outcomes up by primary key in every plan, including the generic
plan PostgreSQL switches a prepared statement to after five runs. Driving the join from
jobs_running_idx instead rescans the outcome array once per running job (seconds per flush
with a few thousand jobs running); see docs/benchmarks.md."""

from __future__ import annotations

import asyncpg
import pytest

from pgqueue._sql import query

PARAMS = "(bigint[], int[], text[], text[], text[], float8[], bool[], bool[], uuid)"


@pytest.mark.parametrize("mode", ["force_generic_plan", "force_custom_plan"])
async def test_complete_many_joins_by_primary_key(dsn: str, mode: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        # Statistics taken while nothing runs (a fresh backlog), then the jobs are claimed: the
        # planner believes jobs_running_idx holds one row.
        await conn.execute(
            "INSERT INTO pgqueue.jobs (task) SELECT 'noop' FROM generate_series(1, 2000)"
        )
        await conn.execute("ANALYZE pgqueue.jobs")
        await conn.execute(
            "UPDATE pgqueue.jobs SET state = 'running', attempts = 1, worker_id = gen_random_uuid()"
        )
        await conn.execute(f"SET plan_cache_mode = {mode}")
        sql = query("job_complete_many")
        await conn.execute(f"PREPARE complete_many {PARAMS} AS {sql}")
        plan = "\n".join(
            row[0]
            for row in await conn.fetch(
                "EXPLAIN EXECUTE complete_many('{1,2,3}', '{1,1,1}',"
                " '{succeeded,succeeded,succeeded}', '{null,null,null}', '{NULL,NULL,NULL}',"
                " '{NULL,NULL,NULL}', '{f,f,f}', '{t,t,t}', gen_random_uuid())"
            )
        )
    finally:
        await conn.close()
    assert "Index Scan using jobs_pkey on jobs" in plan, plan
    assert "jobs_running_idx" not in plan, plan
