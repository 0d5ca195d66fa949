"""Revision 0005_worker_health: the workers table's health columns (existing rows get their
defaults), pgqueue.worker_stats extended, and a downgrade that restores 0003's view exactly."""

from __future__ import annotations

from typing import Any

import psycopg

from pgqueue import migrate
from tests.conftest import create_database, drop_database, dsn_for

REVISION = "0005_worker_health"
PREVIOUS = "0003_operations"

VIEW = """
SELECT pg_get_viewdef('pgqueue.worker_stats'::regclass, true),
       obj_description('pgqueue.worker_stats'::regclass, 'pg_class')
"""
COLUMNS = """
SELECT column_name, data_type, is_nullable, column_default
FROM information_schema.columns
WHERE table_schema = 'pgqueue' AND table_name = %s ORDER BY ordinal_position
"""


def rows(dsn: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute(sql, params or None).fetchall()]  # type: ignore[arg-type]


def execute(dsn: str, sql: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def test_upgrade_adds_health_to_workers_and_the_view(empty_db: str) -> None:
    migrate.upgrade(empty_db, PREVIOUS)
    execute(
        empty_db,
        "INSERT INTO pgqueue.workers (id, hostname, pid, queues, concurrency, version, "
        "heartbeat_ttl) VALUES (gen_random_uuid(), 'h', 1, '{default}', 1, 'x', '30 s')",
    )
    migrate.upgrade(empty_db, REVISION)
    columns = {c[0]: c[1:] for c in rows(empty_db, COLUMNS, "workers")}
    assert columns["abandoned_threads"] == ("integer", "NO", "0")
    assert columns["claiming"] == ("boolean", "NO", "true")
    assert columns["loop_stall_seconds"] == ("double precision", "NO", "0")
    assert columns["loop_stalls"] == ("bigint", "NO", "0")
    view = [c[0] for c in rows(empty_db, COLUMNS, "worker_stats")]
    assert view[-5:] == [
        "abandoned_threads",
        "claiming",
        "loop_stall_seconds",
        "loop_stalls",
        "healthy",
    ]
    [(alive, healthy, abandoned, claiming)] = rows(
        empty_db,
        "SELECT alive, healthy, abandoned_threads, claiming FROM pgqueue.worker_stats",
    )
    assert (alive, healthy, abandoned, claiming) == (True, True, 0, True)
    execute(empty_db, "UPDATE pgqueue.workers SET claiming = false")
    assert rows(empty_db, "SELECT healthy FROM pgqueue.worker_stats") == [(False,)]


def test_downgrade_restores_the_previous_view_and_columns_exactly(empty_db: str) -> None:
    reference = create_database()
    try:
        migrate.upgrade(dsn_for(reference), PREVIOUS)
        expected = (
            rows(dsn_for(reference), VIEW),
            rows(dsn_for(reference), COLUMNS, "workers"),
            rows(dsn_for(reference), COLUMNS, "worker_stats"),
        )
    finally:
        drop_database(reference)
    migrate.upgrade(empty_db, REVISION)
    upgraded = (rows(empty_db, VIEW), rows(empty_db, COLUMNS, "workers"))
    migrate.downgrade(empty_db, PREVIOUS)
    assert (
        rows(empty_db, VIEW),
        rows(empty_db, COLUMNS, "workers"),
        rows(empty_db, COLUMNS, "worker_stats"),
    ) == expected
    migrate.upgrade(empty_db, REVISION)
    assert (rows(empty_db, VIEW), rows(empty_db, COLUMNS, "workers")) == upgraded
