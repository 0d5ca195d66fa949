"""Revisions 0010_worker_tasks (pgqueue.workers.tasks) and 0011_dead_letter_functions
(pgqueue.requeue_dead, pgqueue.purge_dead, pgqueue.grant_operator): upgrade keeps existing rows
and who may act on dead letters, downgrade takes exactly these objects away again."""

from __future__ import annotations

from typing import Any

import psycopg

from pgqueue import migrate
from tests.roles import temporary_role

WORKERS = "0010_worker_tasks"
DEAD_LETTERS = "0011_dead_letter_functions"
BEFORE = "0009_notify_v2"
FUNCTIONS = """
SELECT p.proname, p.prosecdef, coalesce(p.proacl::text, '') FROM pg_proc AS p
WHERE p.pronamespace = 'pgqueue'::regnamespace
  AND p.proname IN ('requeue_dead', 'purge_dead', 'grant_operator')
ORDER BY 1
"""
TASKS_COLUMN = """
SELECT data_type, is_nullable, column_default FROM information_schema.columns
WHERE table_schema = 'pgqueue' AND table_name = 'workers' AND column_name = 'tasks'
"""


def rows(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute(sql).fetchall()]  # type: ignore[arg-type]


def execute(dsn: str, sql: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def test_worker_tasks_column_round_trip(empty_db: str) -> None:
    migrate.upgrade(empty_db, BEFORE)
    execute(
        empty_db,
        "INSERT INTO pgqueue.workers (id, hostname, pid, queues, concurrency, version, "
        "heartbeat_ttl) VALUES (gen_random_uuid(), 'h', 1, '{default}', 1, 'x', '30 s')",
    )
    migrate.upgrade(empty_db, WORKERS)
    assert rows(empty_db, TASKS_COLUMN) == [("ARRAY", "NO", "'{}'::text[]")]
    assert rows(empty_db, "SELECT tasks FROM pgqueue.workers") == [([],)]
    migrate.downgrade(empty_db, BEFORE)
    assert rows(empty_db, TASKS_COLUMN) == []
    assert rows(empty_db, "SELECT count(*) FROM pgqueue.workers") == [(1,)]


def test_dead_letter_functions_keep_who_could_act_and_downgrade_drops_them(
    empty_db: str,
) -> None:
    migrate.upgrade(empty_db, WORKERS)
    with (
        temporary_role(empty_db, "oldworker") as worker,
        temporary_role(empty_db, "updater") as updater,
    ):
        execute(empty_db, f"SELECT pgqueue.grant_worker('{worker}')")
        execute(empty_db, f"GRANT UPDATE ON pgqueue.jobs TO {updater}")  # no DELETE: no purge
        migrate.upgrade(empty_db, DEAD_LETTERS)
        functions = rows(empty_db, FUNCTIONS)
        owner = rows(empty_db, "SELECT current_user")[0][0]
        acl = f"{{{owner}=X/{owner},{worker}=X/{owner}}}"
        assert functions == [
            ("grant_operator", False, f"{{{owner}=X/{owner}}}"),
            ("purge_dead", True, acl),
            ("requeue_dead", True, acl),
        ]
        migrate.downgrade(empty_db, WORKERS)
        assert rows(empty_db, FUNCTIONS) == []
        migrate.upgrade(empty_db, DEAD_LETTERS)  # and up again, cleanly
        assert [f[0] for f in rows(empty_db, FUNCTIONS)] == [f[0] for f in functions]
