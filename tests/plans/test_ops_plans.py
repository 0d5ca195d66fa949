"""EXPLAIN evidence: the monitoring views, retention and dead-letter queries read indexes, never
the whole jobs table, on a table that is mostly finished history."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from pgqueue._sql import query
from tests.conftest import create_database, drop_database, dsn_for

HISTORY = 200_000

FILL = f"""
INSERT INTO pgqueue.jobs (task, queue, state, attempts, run_at, started_at, finished_at, result)
SELECT 'task' || (n % 20), 'q' || (n % 5), 'succeeded', 1,
       now() - (n * interval '10 seconds'), now() - (n * interval '10 seconds'),
       now() - (n * interval '10 seconds') + interval '1 second', '1'
FROM generate_series(1, {HISTORY}) AS n;
INSERT INTO pgqueue.jobs (task, queue, state, attempts, finished_at, errors)
SELECT 'task' || (n % 20), 'q' || (n % 5), 'dead', 3, now() - (n * interval '1 minute'),
       '[{{"type": "ValueError", "message": "x"}}]'
FROM generate_series(1, 1000) AS n;
INSERT INTO pgqueue.jobs (task, queue, state, run_at)
SELECT 'task' || (n % 20), 'q' || (n % 5), 'queued', now() - (n * interval '1 second')
FROM generate_series(1, 2000) AS n;
INSERT INTO pgqueue.jobs (task, queue, state, run_at)
SELECT 'task', 'q1', 'scheduled', now() + (n * interval '1 minute')
FROM generate_series(1, 2000) AS n;
INSERT INTO pgqueue.jobs (task, queue, state, attempts, started_at, worker_id)
SELECT 'task', 'q1', 'running', 1, now(), gen_random_uuid() FROM generate_series(1, 50);
ANALYZE pgqueue.jobs;
"""


@pytest.fixture(scope="module")
def history_dsn(template_db: str) -> Iterator[str]:
    name = create_database(template=template_db)
    try:
        with psycopg.connect(dsn_for(name), autocommit=True) as conn:
            conn.execute(FILL)  # type: ignore[arg-type]
        yield dsn_for(name)
    finally:
        drop_database(name)


def plan(dsn: str, sql: str, *params: Any) -> dict[str, Any]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(f"EXPLAIN (FORMAT JSON) {sql}", params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    result: dict[str, Any] = row[0][0]["Plan"]
    return result


def scans(node: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(node type, index name) of every scan of pgqueue.jobs in the plan."""
    found = []
    if node.get("Relation Name") == "jobs":
        found.append((node["Node Type"], node.get("Index Name")))
    if node["Node Type"] == "Bitmap Index Scan":
        found.append((node["Node Type"], node.get("Index Name")))
    for child in node.get("Plans", []):
        found.extend(scans(child))
    return found


def assert_indexed(dsn: str, sql: str, *params: Any) -> list[str | None]:
    found = scans(plan(dsn, sql, *params))
    assert found, "the query does not read pgqueue.jobs?"
    assert all(kind != "Seq Scan" for kind, _ in found), found
    return [index for _, index in found if index]


def _prepared_plan(dsn: str, mode: str, name: str, params: tuple[str, ...]) -> dict[str, Any]:
    """The plan of `EXECUTE` of the named query, prepared as asyncpg does, under `mode`."""
    arguments = f"({', '.join(params)})" if params else ""
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT set_config('plan_cache_mode', %s, false)", (mode,))
        conn.execute(f"PREPARE q AS {query(name)}")  # type: ignore[arg-type]
        row = conn.execute(f"EXPLAIN (FORMAT JSON) EXECUTE q{arguments}").fetchone()  # type: ignore[arg-type]
    assert row is not None
    result: dict[str, Any] = row[0][0]["Plan"]
    return result


def generic_plan(dsn: str, name: str, *params: str) -> dict[str, Any]:
    """Forced generic: what PostgreSQL runs once a prepared statement's generic plan looks no
    dearer than its custom ones (from the sixth call on)."""
    return _prepared_plan(dsn, "force_generic_plan", name, params)


def custom_plan(dsn: str, name: str, *params: str) -> dict[str, Any]:
    return _prepared_plan(dsn, "force_custom_plan", name, params)


def indexes(plan: dict[str, Any]) -> set[str | None]:
    found = scans(plan)
    assert found, "the query does not read pgqueue.jobs?"
    assert all(kind != "Seq Scan" for kind, _ in found), found
    return {index for _, index in found}


@pytest.mark.parametrize(
    ("view", "indexes"),
    [
        (
            "queue_stats",
            {
                "jobs_claim_idx",
                "jobs_due_idx",
                "jobs_running_idx",
                "jobs_finished_idx",
                "jobs_waiting_idx",
            },
        ),
        ("task_throughput", {"jobs_finished_idx"}),
        ("task_runtimes", {"jobs_finished_idx"}),
        ("dead_letters", {"jobs_finished_idx"}),
    ],
)
def test_views_use_indexes(history_dsn: str, view: str, indexes: set[str]) -> None:
    used = assert_indexed(history_dsn, f"SELECT * FROM pgqueue.{view}")
    assert set(used) == indexes


def test_prune_reads_the_finished_index(history_dsn: str) -> None:
    sql = query("job_prune").replace("$1::text", "%s::text").replace("$2::float8", "%s::float8")
    sql = sql.replace("LIMIT $3", "LIMIT %s")
    used = assert_indexed(history_dsn, sql, "succeeded", 86400.0 * 20, 1000)
    # The candidates from the finished index, the DELETE by primary key.
    assert set(used) == {"jobs_finished_idx", "jobs_pkey"}


@pytest.mark.parametrize(
    ("name", "arguments", "expected"),
    [
        ("job_prune", ("'succeeded'", "1728000", "1000"), {"jobs_finished_idx", "jobs_pkey"}),
        ("job_prune_count", ("'succeeded'", "1728000"), {"jobs_finished_idx"}),
    ],
)
def test_retention_reads_the_finished_index_in_its_generic_plan_too(
    history_dsn: str, name: str, arguments: tuple[str, ...], expected: set[str]
) -> None:
    """`state = $1` alone would not let a generic plan use jobs_finished_idx (partial on the
    finished states): the files name the finished states as a constant too."""
    assert indexes(generic_plan(history_dsn, name, *arguments)) - {None} == expected


def test_dead_letter_list_reads_the_finished_index(history_dsn: str) -> None:
    used = assert_indexed(
        history_dsn,
        "SELECT * FROM pgqueue.dead_letters WHERE queue = 'q1' ORDER BY died_at DESC LIMIT 50",
    )
    assert used == ["jobs_finished_idx"]


def test_queue_stats_counts_ready_jobs_with_an_index_only_scan(template_db: str) -> None:
    """docs/operations.md quotes queue_stats as "index scans only (index-only for ready
    jobs)": true once vacuum has marked the pages all-visible, as autovacuum does."""
    name = create_database(template=template_db)
    try:
        with psycopg.connect(dsn_for(name), autocommit=True) as conn:
            conn.execute(FILL)  # type: ignore[arg-type]
            conn.execute("VACUUM (ANALYZE) pgqueue.jobs")
        found = scans(plan(dsn_for(name), "SELECT * FROM pgqueue.queue_stats"))
        with psycopg.connect(dsn_for(name)) as conn:
            version = conn.info.server_version
    finally:
        drop_database(name)
    if version < 180000:
        assert ("Index Only Scan", "jobs_claim_idx") in found, found
    else:
        # PostgreSQL 18 costs a bitmap scan of the same index lower on this small table: still
        # only the ready rows' index entries, never the history.
        assert {
            ("Index Only Scan", "jobs_claim_idx"),
            ("Bitmap Index Scan", "jobs_claim_idx"),
        } & set(found), found
    kinds = {"Index Scan", "Index Only Scan", "Bitmap Index Scan", "Bitmap Heap Scan"}
    assert {kind for kind, _ in found} <= kinds, found
    assert {index for _, index in found if index} == {
        "jobs_claim_idx",
        "jobs_due_idx",
        "jobs_running_idx",
        "jobs_finished_idx",
        "jobs_waiting_idx",  # 0014_workflows
    }
