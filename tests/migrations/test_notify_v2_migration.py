"""Revision 0009_notify_v2: the notification triggers of pgqueue.jobs are split so that an UPDATE
which finishes nothing (a claim, a progress report) runs no query on the transition tables, with
the notifications of 0007 unchanged (tests/integration/test_notifications.py holds those); the
downgrade puts 0008's triggers and function body back exactly."""

from __future__ import annotations

from typing import Any

import psycopg

from pgqueue import migrate

REVISION = "0009_notify_v2"
PREVIOUS = "0008_sql_files"


def rows(dsn: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute(sql, params or None).fetchall()]  # type: ignore[arg-type]


def triggers(dsn: str) -> list[tuple[Any, ...]]:
    return rows(
        dsn,
        "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger "
        "WHERE tgrelid = 'pgqueue.jobs'::regclass AND NOT tgisinternal ORDER BY tgname",
    )


def functions(dsn: str) -> list[tuple[Any, ...]]:
    return rows(
        dsn,
        "SELECT proname, pg_get_functiondef(oid) FROM pg_proc "
        "WHERE pronamespace = 'pgqueue'::regnamespace AND proname LIKE 'notify_jobs%' "
        "ORDER BY proname",
    )


def test_upgrade_splits_the_update_trigger_and_downgrade_restores_0008(empty_db: str) -> None:
    migrate.upgrade(empty_db, PREVIOUS)
    before = (triggers(empty_db), functions(empty_db))
    migrate.upgrade(empty_db, REVISION)
    names = [name for name, _ in triggers(empty_db)]
    assert names == [
        "jobs_notify_finishing",
        "jobs_notify_inserted",
        "jobs_notify_queued",
        "jobs_notify_updated",
    ]
    definitions = dict(triggers(empty_db))
    assert "AFTER UPDATE OF finished_at" in definitions["jobs_notify_finishing"]
    assert "FOR EACH STATEMENT" in definitions["jobs_notify_finishing"]
    assert "FOR EACH ROW WHEN ((new.state = 'queued'::text))" in definitions["jobs_notify_queued"]
    # The mark must be set before notify_jobs() reads it: triggers of one event fire in name order.
    assert "jobs_notify_finishing" < "jobs_notify_updated"
    assert [name for name, _ in functions(empty_db)] == ["notify_jobs", "notify_jobs_finishing"]
    migrate.downgrade(empty_db, PREVIOUS)
    assert (triggers(empty_db), functions(empty_db)) == before


def test_a_claim_and_a_progress_update_skip_the_completion_query(empty_db: str) -> None:
    """An UPDATE that does not set finished_at leaves the mark alone (notify_jobs then returns
    without reading the transition tables); one that does sets it, and notify_jobs clears it
    within the same statement, so the next UPDATE of the transaction is not taken for one."""
    migrate.upgrade(empty_db, REVISION)
    with psycopg.connect(empty_db) as conn:
        conn.execute("INSERT INTO pgqueue.jobs (task) SELECT 't' FROM generate_series(1, 3)")
        mark = "SELECT current_setting('pgqueue.statement_finishes', true)"
        conn.execute(
            "UPDATE pgqueue.jobs SET state = 'running', started_at = now(), "
            "worker_id = gen_random_uuid()"
        )
        assert conn.execute(mark).fetchone() in {(None,), ("",)}
        conn.execute("UPDATE pgqueue.jobs SET progress = '{}'")
        assert conn.execute(mark).fetchone() in {(None,), ("",)}
        conn.execute(
            "UPDATE pgqueue.jobs SET state = 'succeeded', finished_at = now(), worker_id = NULL"
        )
        assert conn.execute(mark).fetchone() == ("off",)
