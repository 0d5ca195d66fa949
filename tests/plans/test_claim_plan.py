"""The hot queries stay on their partial indexes however much history and future schedule the
table holds: EXPLAIN of the exact query text pgqueue runs (pgqueue._sql.query) on a table with
200k finished rows, 100k far-future scheduled rows and 1k queued rows.

Plans are taken through PREPARE/EXECUTE, the way asyncpg runs them: the first executions get
custom plans (default plan_cache_mode); a generic plan may be chosen later, so both are checked.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from pgqueue._sql import query
from tests.conftest import create_database, drop_database, dsn_for

HISTORY = 200_000
FUTURE = 100_000
QUEUED = 1_000  # half in 'default', half in 'other'
DUE = 60  # scheduled/retrying rows whose run_at has passed
WORKER = "00000000-0000-0000-0000-000000000001"

pytestmark = pytest.mark.timeout(120)

LOAD = f"""
INSERT INTO pgqueue.jobs (task, queue, state, attempts, run_at, enqueued_at, started_at,
                          finished_at, result)
SELECT 'history', CASE WHEN g % 10 = 0 THEN 'other' ELSE 'default' END, 'succeeded', 1,
       now() - interval '2 days' + g * interval '1 ms', now() - interval '2 days',
       now() - interval '2 days', now() - interval '1 day', '1'
FROM generate_series(1, {HISTORY}) AS g;

INSERT INTO pgqueue.jobs (task, queue, state, run_at)
SELECT 'future', 'default', 'scheduled', now() + interval '30 days' + g * interval '1 s'
FROM generate_series(1, {FUTURE}) AS g;

INSERT INTO pgqueue.jobs (task, queue, priority, state, run_at)
SELECT 'ready', CASE WHEN g % 2 = 0 THEN 'default' ELSE 'other' END, g % 3, 'queued',
       now() - g * interval '1 ms'
FROM generate_series(1, {QUEUED}) AS g;

INSERT INTO pgqueue.jobs (task, queue, state, attempts, run_at)
SELECT 'due', 'default', CASE WHEN g % 2 = 0 THEN 'scheduled' ELSE 'retrying' END,
       CASE WHEN g % 2 = 0 THEN 0 ELSE 1 END, now() - interval '1 minute'
FROM generate_series(1, {DUE}) AS g;

ANALYZE pgqueue.jobs;
"""


@pytest.fixture(scope="module")
def loaded_db(template_db: str) -> Iterator[str]:
    """One loaded database for the module: every EXPLAIN ANALYZE below runs in a transaction
    that is rolled back, so the data never changes between tests."""
    name = create_database(template=template_db)
    try:
        yield dsn_for(name)
    finally:
        drop_database(name)


@pytest.fixture
async def conn(loaded_db: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(loaded_db)
    try:
        if await connection.fetchval("SELECT count(*) FROM pgqueue.jobs") == 0:
            await connection.execute(LOAD)
        yield connection
    finally:
        await connection.close()


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


async def explain(
    conn: asyncpg.Connection,
    name: str,
    params: str,
    execute: str,
    *,
    mode: str = "auto",
    analyze: bool = False,
) -> dict[str, Any]:
    """EXPLAIN the prepared query pgqueue runs; ANALYZE runs it in a rolled-back transaction."""
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute(f"SET LOCAL plan_cache_mode = {mode}")
        await conn.execute(f"PREPARE {name}({params}) AS {query(name)}")
        options = "ANALYZE, BUFFERS, FORMAT JSON" if analyze else "FORMAT JSON"
        raw = await conn.fetchval(f"EXPLAIN ({options}) EXECUTE {name}({execute})")
    finally:
        await tx.rollback()
        await conn.execute("DEALLOCATE ALL")
    [document] = json.loads(raw)
    plan: dict[str, Any] = document["Plan"]
    return plan


def scans_of_jobs(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in nodes(plan) if n.get("Relation Name") == "jobs" and "Scan" in n["Node Type"]]


def assert_only_targeted_index_scans(plan: dict[str, Any], index: str) -> dict[str, Any]:
    """No Seq Scan of jobs; every read of jobs is an index scan with a condition (no full index
    walks either); the named partial index is the one that finds the rows."""
    scans = scans_of_jobs(plan)
    described = [(n["Node Type"], n.get("Index Name"), n.get("Index Cond")) for n in scans]
    assert not [n for n in scans if n["Node Type"] == "Seq Scan"], described
    # Plain index scans only: a bitmap scan cannot stop after LIMIT rows.
    assert all(n["Node Type"] in ("Index Scan", "Index Only Scan") for n in scans), described
    assert all("Index Cond" in n for n in scans), described
    [finder] = [n for n in scans if n.get("Index Name") == index]
    other = {n.get("Index Name") for n in scans} - {index}
    assert other <= {"jobs_pkey"}, described
    return finder


CLAIM_PARAMS = "text[], integer, uuid"
PROMOTE_PARAMS = "integer, timestamptz"


def claim_args(queues: str = "{default,other}", limit: int = 10) -> str:
    return f"'{queues}', {limit}, '{WORKER}'"


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
async def test_claim_uses_the_claim_index_and_no_seq_scan(
    conn: asyncpg.Connection, mode: str
) -> None:
    plan = await explain(conn, "job_claim", CLAIM_PARAMS, claim_args(), mode=mode)
    finder = assert_only_targeted_index_scans(plan, "jobs_claim_idx")
    assert "queue" in finder["Index Cond"]


@pytest.mark.parametrize("mode", ["auto", "force_generic_plan"])  # the worker's claim connection
async def test_claim_reads_only_limit_rows_per_queue(conn: asyncpg.Connection, mode: str) -> None:
    plan = await explain(
        conn, "job_claim", CLAIM_PARAMS, claim_args(limit=10), mode=mode, analyze=True
    )
    assert plan["Node Type"] == "ModifyTable"
    finder = assert_only_targeted_index_scans(plan, "jobs_claim_idx")
    # Two queues (one loop each), and each loop stops after LIMIT rows out of 300k.
    assert finder["Actual Loops"] == 2
    assert finder["Actual Rows"] == 10
    claimed = next(n for n in nodes(plan) if n["Node Type"] == "Limit")
    assert claimed["Actual Rows"] == 10


async def test_claim_on_a_queue_with_only_history_reads_nothing(
    conn: asyncpg.Connection,
) -> None:
    plan = await explain(
        conn, "job_claim", CLAIM_PARAMS, claim_args(queues="{absent}"), analyze=True
    )
    finder = assert_only_targeted_index_scans(plan, "jobs_claim_idx")
    assert finder["Actual Rows"] == 0


async def test_custom_plan_is_what_a_fresh_prepared_statement_gets(
    conn: asyncpg.Connection,
) -> None:
    plan = await explain(conn, "job_claim", CLAIM_PARAMS, claim_args(), mode="auto")
    assert_only_targeted_index_scans(plan, "jobs_claim_idx")
    plan = await explain(conn, "job_promote_due", PROMOTE_PARAMS, "1000, NULL", mode="auto")
    assert_only_targeted_index_scans(plan, "jobs_due_idx")


@pytest.mark.parametrize(
    "mode",
    [
        "force_custom_plan",
        pytest.param(
            "force_generic_plan",
        ),
    ],
)
async def test_promote_uses_the_due_index_and_no_seq_scan(
    conn: asyncpg.Connection, mode: str
) -> None:
    plan = await explain(conn, "job_promote_due", PROMOTE_PARAMS, "1000, NULL", mode=mode)
    finder = assert_only_targeted_index_scans(plan, "jobs_due_idx")
    assert "run_at" in finder["Index Cond"]


async def test_promote_reads_only_due_rows(conn: asyncpg.Connection) -> None:
    plan = await explain(conn, "job_promote_due", PROMOTE_PARAMS, "1000, NULL", analyze=True)
    finder = assert_only_targeted_index_scans(plan, "jobs_due_idx")
    # Exactly the due rows: the 100k far-future rows are never visited.
    assert finder["Actual Rows"] == DUE
    plan = await explain(conn, "job_promote_due", PROMOTE_PARAMS, "7, NULL", analyze=True)
    finder = assert_only_targeted_index_scans(plan, "jobs_due_idx")
    assert finder["Actual Rows"] == 7


async def test_the_data_is_what_the_plans_assume(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch("SELECT state, count(*) AS n FROM pgqueue.jobs GROUP BY state")
    assert {r["state"]: r["n"] for r in rows} == {
        "succeeded": HISTORY,
        "scheduled": FUTURE + DUE // 2,
        "queued": QUEUED,
        "retrying": DUE // 2,
    }


CLAIM_AFTER_PARAMS = "text[], integer, uuid, integer[], timestamptz[], bigint[]"
# The key of the 5th queued job of 'default' in claim order (priority DESC, run_at, id).
FIFTH_KEY = """
SELECT priority, run_at, id FROM pgqueue.jobs
WHERE state = 'queued' AND queue = 'default'
ORDER BY priority DESC, run_at, id OFFSET 4 LIMIT 1
"""


async def claim_after_args(conn: asyncpg.Connection, limit: int = 10) -> str:
    """'default' bounded after its 5th job, 'other' without a key (from its head)."""
    key = await conn.fetchrow(FIFTH_KEY)
    return (
        f"'{{default,other}}', {limit}, '{WORKER}', ARRAY[{key['priority']}, NULL]::integer[], "
        f"ARRAY['{key['run_at'].isoformat()}', NULL]::timestamptz[], "
        f"ARRAY[{key['id']}, NULL]::bigint[]"
    )


def claim_index_scans(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every read of jobs is a plain index scan with a condition, on jobs_claim_idx (the three
    branches) or jobs_pkey (the UPDATE); returns the jobs_claim_idx ones."""
    scans = scans_of_jobs(plan)
    described = [(n["Node Type"], n.get("Index Name"), n.get("Index Cond")) for n in scans]
    assert all(n["Node Type"] in ("Index Scan", "Index Only Scan") for n in scans), described
    assert all("Index Cond" in n for n in scans), described
    assert {n.get("Index Name") for n in scans} == {"jobs_claim_idx", "jobs_pkey"}, described
    return [n for n in scans if n.get("Index Name") == "jobs_claim_idx"]


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
async def test_claim_after_starts_its_scans_after_the_key(
    conn: asyncpg.Connection, mode: str
) -> None:
    args = await claim_after_args(conn)
    plan = await explain(conn, "job_claim_after", CLAIM_AFTER_PARAMS, args, mode=mode)
    finders = claim_index_scans(plan)
    conds = [n["Index Cond"] for n in finders]
    assert len(finders) == 3, conds
    # The key is a condition of the index scan (where it starts), not a filter after it.
    assert any("priority =" in c and "ROW(run_at, id) > ROW(q.run_at, q.id)" in c for c in conds), (
        conds
    )
    assert any("priority <" in c for c in conds), conds


@pytest.mark.parametrize("mode", ["auto", "force_generic_plan"])  # the worker's claim connection
async def test_claim_after_reads_only_the_rows_after_the_key(
    conn: asyncpg.Connection, mode: str
) -> None:
    args = await claim_after_args(conn, limit=10)
    plan = await explain(conn, "job_claim_after", CLAIM_AFTER_PARAMS, args, mode=mode, analyze=True)
    finders = claim_index_scans(plan)
    # 'default' (key at the 5th job of priority 2, 167 of them) fills its 10 from the first
    # branch: the second never runs; 'other' has no key: only the head branch runs, 10 rows.
    by_cond = {
        (
            "="
            if "priority =" in n["Index Cond"]
            else "<"
            if "priority <" in n["Index Cond"]
            else "head"
        ): n
        for n in finders
    }
    assert by_cond["="]["Actual Rows"] == 10
    assert by_cond["<"]["Actual Rows"] == 0
    assert by_cond["head"]["Actual Rows"] == 10
    claimed = next(n for n in nodes(plan) if n["Node Type"] == "Limit")
    assert claimed["Actual Rows"] == 10
