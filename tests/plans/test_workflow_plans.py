"""Waiting jobs stay out of the claim's way (docs/workflows.md): 10,000 jobs waiting on a parent
leave the claim's plan as it was, and the claim reads the same rows of jobs_claim_idx; a child's
parent results are read by primary key."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from pgqueue._sql import query
from tests.conftest import create_database, drop_database, dsn_for
from tests.plans.test_claim_plan import (
    CLAIM_PARAMS,
    assert_only_targeted_index_scans,
    claim_args,
    nodes,
)

WAITING = 10_000
QUEUED = 1_000

pytestmark = pytest.mark.timeout(120)

LOAD = f"""
INSERT INTO pgqueue.jobs (task, queue, priority, state, run_at)
SELECT 'ready', CASE WHEN g % 2 = 0 THEN 'default' ELSE 'other' END, g % 3, 'queued',
       now() - g * interval '1 ms'
FROM generate_series(1, {QUEUED}) AS g;
ANALYZE pgqueue.jobs;
"""

# One parent (queued, in a claimed queue) and WAITING children waiting on it, written the way
# pgqueue writes them: one enqueue_many batch.
WAITERS = json.dumps(
    [{"task": "parent", "queue": "default"}]
    + [{"task": "child", "queue": "default", "depends_on_batch": [1]}] * WAITING
)


@pytest.fixture(scope="module")
def plan_db(template_db: str) -> Iterator[str]:
    name = create_database(template=template_db)
    try:
        yield dsn_for(name)
    finally:
        drop_database(name)


@pytest.fixture
async def conn(plan_db: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(plan_db)
    try:
        if await connection.fetchval("SELECT count(*) FROM pgqueue.jobs") == 0:
            await connection.execute(LOAD)
        yield connection
    finally:
        await connection.close()


async def explain(
    conn: asyncpg.Connection,
    name: str,
    params: str,
    execute: str,
    *,
    mode: str = "auto",
    analyze: bool = False,
) -> dict[str, Any]:
    """EXPLAIN the prepared query pgqueue runs, in a savepoint of the caller's transaction (so
    the rows it wrote are seen) or a transaction of its own, rolled back either way."""
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute(f"SET LOCAL plan_cache_mode = {mode}")
        await conn.execute(f"PREPARE {name}({params}) AS {query(name)}")
        options = "ANALYZE, BUFFERS, FORMAT JSON" if analyze else "FORMAT JSON"
        raw = await conn.fetchval(f"EXPLAIN ({options}) EXECUTE {name}({execute})")
    finally:
        await tx.rollback()
        await conn.execute(f"DEALLOCATE {name}")
    [document] = json.loads(raw)
    plan: dict[str, Any] = document["Plan"]
    return plan


def shape(plan: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(n["Node Type"], n.get("Index Name")) for n in nodes(plan)]


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
async def test_ten_thousand_waiting_children_do_not_change_the_claims_plan(
    conn: asyncpg.Connection, mode: str
) -> None:
    before = await explain(conn, "job_claim", CLAIM_PARAMS, claim_args(), mode=mode)
    read_before = await explain(conn, "job_claim", CLAIM_PARAMS, claim_args(), analyze=True)
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.fetch("SELECT * FROM pgqueue.enqueue_many($1::jsonb)", WAITERS)
        await conn.execute("ANALYZE pgqueue.jobs")
        counts = dict(await conn.fetch("SELECT state, count(*) FROM pgqueue.jobs GROUP BY 1"))
        assert counts == {"queued": QUEUED + 1, "waiting": WAITING}
        after = await explain(conn, "job_claim", CLAIM_PARAMS, claim_args(), mode=mode)
        read_after = await explain(conn, "job_claim", CLAIM_PARAMS, claim_args(), analyze=True)
    finally:
        await tx.rollback()
    assert shape(after) == shape(before)
    finder = assert_only_targeted_index_scans(after, "jobs_claim_idx")
    assert "queue" in finder["Index Cond"]
    # The claim walks as many rows of the claim index as before: no waiting row is in it.
    found_before = assert_only_targeted_index_scans(read_before, "jobs_claim_idx")
    found_after = assert_only_targeted_index_scans(read_after, "jobs_claim_idx")
    assert found_after["Actual Rows"] == found_before["Actual Rows"] == 10


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
async def test_a_childs_parent_results_are_read_by_primary_key(
    conn: asyncpg.Connection, mode: str
) -> None:
    tx = conn.transaction()
    await tx.start()
    try:
        ids = await conn.fetch("SELECT id FROM pgqueue.enqueue_many($1::jsonb)", WAITERS)
        await conn.execute("ANALYZE pgqueue.job_dependencies")
        plan = await explain(conn, "job_parent_results", "bigint", str(ids[-1]["id"]), mode=mode)
    finally:
        await tx.rollback()
    scans = [n for n in nodes(plan) if "Scan" in n["Node Type"]]
    described = [(n["Node Type"], n.get("Index Name")) for n in scans]
    assert {n.get("Index Name") for n in scans} == {"job_dependencies_pkey", "jobs_pkey"}, described
