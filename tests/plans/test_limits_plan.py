"""Flow control keeps the claims on their indexes (docs/limits.md): with 20k limited jobs waiting
at their limits ahead of the unlimited ones (higher priority, earlier run_at), the plain claim
still reads jobs_claim_idx from the first unlimited job and stops after LIMIT rows (the plan it
had before limits existed), and every statement of pgqueue.claim_limited reads jobs through an
index: the groups by a skip scan of jobs_limited_idx, the running counts from
jobs_limited_running_idx. The limited claim's statements are seen through auto_explain, which
sends each nested plan to the client as a NOTICE."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import psycopg
import pytest

from pgqueue._sql import query
from tests.conftest import create_database, drop_database, dsn_for
from tests.plans.test_claim_plan import (
    CLAIM_PARAMS,
    assert_only_targeted_index_scans,
    claim_args,
    explain,
    nodes,
)

LIMITED = 20_000
GROUPS = 100  # keys of the limited task
FREE = 1_000

pytestmark = pytest.mark.timeout(120)

LOAD = f"""
INSERT INTO pgqueue.limits (scope, name, concurrency, rate_count, rate_seconds, burst)
VALUES ('task', 'limited', 2, 20, 1, 2);

INSERT INTO pgqueue.jobs (task, queue, priority, state, run_at, limited, limit_key)
SELECT 'limited', 'default', 5, 'queued', now() - interval '1 hour', true, 'k' || (g % {GROUPS})
FROM generate_series(1, {LIMITED}) AS g;

INSERT INTO pgqueue.jobs (task, queue, state, run_at)
SELECT 'free', CASE WHEN g % 2 = 0 THEN 'default' ELSE 'other' END, 'queued', now()
FROM generate_series(1, {FREE}) AS g;

INSERT INTO pgqueue.jobs (task, queue, state, attempts, run_at, started_at, finished_at, result)
SELECT 'history', 'default', 'succeeded', 1, now() - interval '2 days', now() - interval '2 days',
       now() - interval '1 day', '1'
FROM generate_series(1, 100000) AS g;

ANALYZE pgqueue.jobs;
"""


@pytest.fixture(scope="module")
def loaded_db(template_db: str) -> Iterator[str]:
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


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
async def test_the_plain_claim_skips_limited_jobs_in_the_index(
    conn: asyncpg.Connection, mode: str
) -> None:
    plan = await explain(conn, "job_claim", CLAIM_PARAMS, claim_args(), mode=mode)
    finder = assert_only_targeted_index_scans(plan, "jobs_claim_idx")
    assert "queue" in finder["Index Cond"] and "limited" in finder["Index Cond"]


async def test_the_plain_claim_reads_limit_rows_past_20k_waiting_limited_jobs(
    conn: asyncpg.Connection,
) -> None:
    plan = await explain(conn, "job_claim", CLAIM_PARAMS, claim_args(limit=10), analyze=True)
    finder = assert_only_targeted_index_scans(plan, "jobs_claim_idx")
    assert finder["Actual Loops"] == 2
    assert finder["Actual Rows"] == 10  # not 20k limited rows walked past
    claimed = next(n for n in nodes(plan) if n["Node Type"] == "Limit")
    assert claimed["Actual Rows"] == 10


async def limited_claim_plans(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """The plans of every statement pgqueue.claim_limited runs, in a rolled-back transaction."""
    notices: list[str] = []
    conn.add_log_listener(lambda _conn, message: notices.append(message.message))
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute("LOAD 'auto_explain'")
        for setting in (
            "log_min_duration = 0",
            "log_nested_statements = on",
            "log_level = notice",
            "log_analyze = on",
            "log_format = json",
        ):
            await conn.execute(f"SET LOCAL auto_explain.{setting}")
        claimed = await conn.fetch(
            "SELECT id FROM pgqueue.claim_limited('{default,other}', 10, gen_random_uuid())"
        )
    finally:
        await tx.rollback()
    # Each key has its own limits (2 at once, 20/s): the first 10 jobs are of 10 keys.
    assert len([r for r in claimed if r["id"] is not None]) == 10
    plans = []
    for notice in notices:
        text = notice.split("plan:", 1)[1] if "plan:" in notice else ""
        if text.strip().startswith("{"):
            plans.append(json.loads(text)["Plan"])
    return plans


async def test_every_statement_of_the_limited_claim_reads_jobs_through_an_index(
    conn: asyncpg.Connection,
) -> None:
    plans = await limited_claim_plans(conn)
    scans = [
        (n["Node Type"], n.get("Index Name"), n.get("Actual Rows"), n.get("Actual Loops"))
        for plan in plans
        for n in nodes(plan)
        if n.get("Relation Name") == "jobs" and "Scan" in n["Node Type"]
    ]
    assert scans, "auto_explain showed no statement"
    assert all(kind in ("Index Scan", "Index Only Scan") for kind, *_ in scans), scans
    used = {index for _, index, *_ in scans}
    assert used == {"jobs_limited_idx", "jobs_limited_running_idx", "jobs_pkey"}, scans
    # The groups: one probe per key and one at the end of each queue, never the 20k rows.
    walked = sum(
        rows * loops
        for kind, index, rows, loops in scans
        if index == "jobs_limited_idx" and rows is not None
    )
    assert walked <= 3 * GROUPS + 10 + 2, scans


MANY_LIMITS = """
INSERT INTO pgqueue.limits (scope, name, concurrency)
SELECT 'task', 'task' || g, 2 FROM generate_series(1, 2000) AS g;
ANALYZE pgqueue.limits;
"""


def _limits_scans(node: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(node type, index name) of every read of pgqueue.limits in the plan."""
    found = []
    if node.get("Relation Name") == "limits" or node.get("Index Name") == "limits_pkey":
        found.append((node["Node Type"], node.get("Index Name")))
    for child in node.get("Plans", []):
        found.extend(_limits_scans(child))
    return found


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
@pytest.mark.parametrize(
    ("statement", "arguments"),
    [
        ("job_insert_plain", "('task7', '[]', '{}', 'default', 0, NULL)"),
        ("job_insert_one", "('task7', '[]', '{}', 'default', 0, NULL, NULL, NULL, NULL, NULL)"),
    ],
)
def test_a_single_enqueue_finds_its_limits_by_the_primary_key(
    template_db: str, statement: str, arguments: str, mode: str
) -> None:
    """A database with 2,000 limits: the single enqueue's limited mark reads pgqueue.limits
    through limits_pkey, never the whole table, in its custom and its generic plan."""
    name = create_database(template=template_db)
    try:
        with psycopg.connect(dsn_for(name), autocommit=True) as conn:
            conn.execute(MANY_LIMITS)  # type: ignore[arg-type]
            conn.execute("SELECT set_config('plan_cache_mode', %s, false)", (mode,))
            conn.execute(f"PREPARE q AS {query(statement)}")  # type: ignore[arg-type]
            row = conn.execute(f"EXPLAIN (FORMAT JSON) EXECUTE q{arguments}").fetchone()  # type: ignore[arg-type]
        assert row is not None
        found = _limits_scans(row[0][0]["Plan"])
    finally:
        drop_database(name)
    assert found, "the statement does not read pgqueue.limits?"
    assert {index for _, index in found if index} == {"limits_pkey"}, found
    assert all(kind != "Seq Scan" for kind, _ in found), found
