"""Revision 0006_finished_states: rows that break "finished_at is set iff the state is final" are
repaired (and nothing else of them changes), the CHECK then refuses such rows, a constraint a DBA
added beforehand is kept, and the downgrade drops it."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from pgqueue import migrate

REVISION = "0006_finished_states"
PREVIOUS = "0005_worker_health"
NAME = "jobs_finished_state_check"


def rows(dsn: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute(sql, params or None).fetchall()]  # type: ignore[arg-type]


def execute(dsn: str, sql: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def constraint(dsn: str) -> list[tuple[Any, ...]]:
    return rows(
        dsn,
        "SELECT pg_get_constraintdef(oid), convalidated FROM pg_constraint "
        "WHERE conrelid = 'pgqueue.jobs'::regclass AND conname = %s",
        NAME,
    )


def test_upgrade_repairs_violators_and_then_refuses_them(empty_db: str) -> None:
    migrate.upgrade(empty_db, PREVIOUS)
    execute(
        empty_db,
        "INSERT INTO pgqueue.jobs (id, task, state, finished_at) VALUES "
        "(1, 'ok-final', 'succeeded', '2020-01-01'), "
        "(2, 'ok-waiting', 'queued', NULL), "
        "(3, 'final-unfinished', 'dead', NULL), "
        "(4, 'waiting-finished', 'queued', '2020-01-01'), "
        "(5, 'cancelled-unfinished', 'cancelled', NULL)",
    )
    migrate.upgrade(empty_db, REVISION)
    found = rows(
        empty_db,
        "SELECT id, task, state, finished_at IS NOT NULL, "
        "finished_at = '2020-01-01'::timestamptz, finished_at > now() - interval '1 hour' "
        "FROM pgqueue.jobs ORDER BY id",
    )
    assert found == [
        (1, "ok-final", "succeeded", True, True, False),  # untouched
        (2, "ok-waiting", "queued", False, None, None),
        (3, "final-unfinished", "dead", True, False, True),  # finished now
        (4, "waiting-finished", "queued", False, None, None),  # cleared
        (5, "cancelled-unfinished", "cancelled", True, False, True),
    ]
    assert constraint(empty_db) == [
        (
            "CHECK (((finished_at IS NOT NULL) = (state = ANY "
            "(ARRAY['succeeded'::text, 'dead'::text, 'cancelled'::text]))))",
            True,
        )
    ]
    for bad in (
        "INSERT INTO pgqueue.jobs (task, state) VALUES ('t', 'succeeded')",
        "INSERT INTO pgqueue.jobs (task, state, finished_at) VALUES ('t', 'queued', now())",
        "UPDATE pgqueue.jobs SET state = 'dead' WHERE id = 2",
    ):
        with pytest.raises(psycopg.errors.CheckViolation, match=NAME):
            execute(empty_db, bad)
    assert rows(
        empty_db, "SELECT count(*), count(*) FILTER (WHERE state = 'queued') FROM pgqueue.jobs"
    ) == [(5, 2)]


def test_a_constraint_added_beforehand_is_kept_and_the_downgrade_drops_it(empty_db: str) -> None:
    migrate.upgrade(empty_db, PREVIOUS)
    execute(
        empty_db,
        f"ALTER TABLE pgqueue.jobs ADD CONSTRAINT {NAME} CHECK "
        "((finished_at IS NOT NULL) = (state IN ('succeeded', 'dead', 'cancelled'))) NOT VALID",
    )
    migrate.upgrade(empty_db, REVISION)
    assert [validated for _, validated in constraint(empty_db)] == [True]
    migrate.downgrade(empty_db, PREVIOUS)
    assert constraint(empty_db) == []
    execute(empty_db, "INSERT INTO pgqueue.jobs (task, state) VALUES ('t', 'succeeded')")
    migrate.upgrade(empty_db, REVISION)
    assert rows(empty_db, "SELECT state, finished_at IS NOT NULL FROM pgqueue.jobs") == [
        ("succeeded", True)
    ]
