"""Revision 0004_hardening: rows that already break a name limit fail it with a clear message and
change nothing; constraints a DBA added and validated beforehand (the large-table procedure in
docs/migrations.md) are kept; every role that could enqueue before still can."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from pgqueue import migrate
from tests.roles import dsn_as, temporary_role


def query(dsn: str, sql: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return list(conn.execute(sql, params or None).fetchall())  # type: ignore[arg-type]


def execute(dsn: str, *statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def version(dsn: str) -> str:
    [[found]] = query(dsn, "SELECT version_num FROM pgqueue.alembic_version")
    return str(found)


def constraints(dsn: str) -> list[tuple[object, ...]]:
    return query(
        dsn,
        "SELECT conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint "
        "WHERE conrelid = 'pgqueue.jobs'::regclass AND conname IN "
        "('jobs_task_name_check', 'jobs_queue_name_check', 'jobs_unique_key_check') ORDER BY 1",
    )


def test_an_existing_oversized_name_fails_the_revision_clearly_and_changes_nothing(
    empty_db: str,
) -> None:
    migrate.upgrade(empty_db, "0003_operations")
    [[ok_id]] = query(empty_db, "INSERT INTO pgqueue.jobs (task) VALUES ('fine') RETURNING id")
    [[bad_id]] = query(
        empty_db,
        "INSERT INTO pgqueue.jobs (task, queue, state, run_at) "
        "VALUES ('t', repeat('q', 8001), 'scheduled', now() + interval '1 day') RETURNING id",
    )
    with pytest.raises(Exception, match="pgqueue 0004_hardening") as raised:
        migrate.upgrade(empty_db, "0004_hardening")
    message = str(raised.value)
    assert (
        "1 job(s) have a queue name that is empty, over 200 bytes or holds a control character "
        f"(first: job {bad_id}); nothing was changed"
    ) in message
    assert version(empty_db) == "0003_operations"
    assert constraints(empty_db) == []

    # The hint's query finds exactly the offending row; once it is fixed the revision runs.
    execute(empty_db, f"UPDATE pgqueue.jobs SET queue = 'rescued' WHERE id = {bad_id}")
    migrate.upgrade(empty_db, "0004_hardening")
    assert version(empty_db) == "0004_hardening"
    assert [name for name, _definition, valid in constraints(empty_db) if valid] == [
        "jobs_queue_name_check",
        "jobs_task_name_check",
        "jobs_unique_key_check",
    ]
    assert query(empty_db, "SELECT id, queue FROM pgqueue.jobs ORDER BY id") == [
        (ok_id, "default"),
        (bad_id, "rescued"),
    ]


DOCS = Path(__file__).resolve().parents[2] / "docs" / "migrations.md"


def documented_beforehand_statements() -> list[str]:
    """The statements docs/migrations.md gives a DBA for a large table, as written there."""
    text = DOCS.read_text()
    section = text[text.index("**On a large table.**") :]
    fence = "```sql fragment\n"  # statements for a DBA, not for the docs test to run twice
    block = section[section.index(fence) + len(fence) : section.index("\n```\n")]
    statements = [line.rstrip(";") for line in block.splitlines() if line.strip()]
    assert len(statements) == 6, statements
    return statements


def test_constraints_added_beforehand_by_a_dba_are_kept(empty_db: str, dsn: str) -> None:
    migrate.upgrade(empty_db, "0003_operations")
    execute(empty_db, "INSERT INTO pgqueue.jobs (task) VALUES ('fine')")
    execute(empty_db, *documented_beforehand_statements())
    migrate.upgrade(empty_db, "0004_hardening")
    assert version(empty_db) == "0004_hardening"
    assert constraints(empty_db) == constraints(dsn)  # the same as a fresh install's


def test_every_role_that_could_enqueue_still_can_and_no_other(empty_db: str) -> None:
    """enqueue_many becomes SECURITY DEFINER, so EXECUTE (no longer PUBLIC's) decides who may
    enqueue: the revision grants it to the roles that had INSERT on pgqueue.jobs."""
    migrate.upgrade(empty_db, "0003_operations")
    with (
        temporary_role(empty_db, "writer") as writer,
        temporary_role(empty_db, "reader") as reader,
    ):
        execute(
            empty_db,
            f"GRANT USAGE ON SCHEMA pgqueue TO {writer}, {reader}",
            f"GRANT SELECT, INSERT ON pgqueue.jobs TO {writer}",
            f"GRANT SELECT ON pgqueue.jobs TO {reader}",
        )
        migrate.upgrade(empty_db, "0004_hardening")
        [[job_id]] = query(dsn_as(writer, empty_db), "SELECT pgqueue.enqueue('t')")
        assert isinstance(job_id, int)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="enqueue"):
            query(dsn_as(reader, empty_db), "SELECT pgqueue.enqueue('t')")
        assert query(empty_db, "SELECT count(*) FROM pgqueue.jobs") == [(1,)]
