"""Revision 0012_job_metadata: jobs.metadata (a JSON object, {} for the jobs already there),
enqueue_many v2 stores a job's "metadata" and refuses one that is not an object, and the
downgrade puts back the v1 functions and drops the column, leaving the functions as they were."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from pgqueue import migrate
from tests.migrations.test_sql_files import objects

REVISION = "0012_job_metadata"
PREVIOUS = "0011_dead_letter_functions"


def rows(dsn: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute(sql, params or None).fetchall()]  # type: ignore[arg-type]


def column(dsn: str) -> list[tuple[Any, ...]]:
    return rows(
        dsn,
        "SELECT data_type, is_nullable, column_default FROM information_schema.columns "
        "WHERE table_schema = 'pgqueue' AND table_name = 'jobs' AND column_name = 'metadata'",
    )


def test_upgrade_gives_every_job_empty_metadata_and_enqueue_many_stores_it(empty_db: str) -> None:
    migrate.upgrade(empty_db, PREVIOUS)
    before = objects(empty_db)
    [[old_job]] = rows(empty_db, "SELECT pgqueue.enqueue('before')")
    migrate.upgrade(empty_db, REVISION)
    assert column(empty_db) == [("jsonb", "NO", "'{}'::jsonb")]
    [[new_job]] = rows(
        empty_db,
        "SELECT id FROM pgqueue.enqueue_many("
        """'[{"task": "after", "metadata": {"traceparent": "00-abc-def-01"}}]')""",
    )
    assert rows(empty_db, "SELECT id, metadata::text FROM pgqueue.jobs ORDER BY id") == [
        (old_job, "{}"),
        (new_job, '{"traceparent": "00-abc-def-01"}'),
    ]
    # pgqueue.enqueue (unchanged) writes {} through enqueue_many v2.
    [[sql_job]] = rows(empty_db, "SELECT pgqueue.enqueue('plain')")
    assert rows(empty_db, "SELECT metadata::text FROM pgqueue.jobs WHERE id = %s", sql_job) == [
        ("{}",)
    ]
    with pytest.raises(psycopg.errors.CheckViolation, match="jobs_metadata_check"):
        rows(empty_db, "INSERT INTO pgqueue.jobs (task, metadata) VALUES ('raw', '[1]')")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match='job #1 has "metadata"'):
        rows(empty_db, """SELECT * FROM pgqueue.enqueue_many('[{"task": "x", "metadata": 1}]')""")

    migrate.downgrade(empty_db, PREVIOUS)
    assert column(empty_db) == []
    assert objects(empty_db) == before  # the v1 functions, owners, grants and comments
    assert [r[0] for r in rows(empty_db, "SELECT task FROM pgqueue.jobs ORDER BY id")] == [
        "before",
        "after",
        "plain",
    ]
    [[again]] = rows(empty_db, "SELECT pgqueue.enqueue('after downgrade')")
    assert again > sql_job


def test_who_could_enqueue_still_can_with_the_new_parameter_and_after_the_downgrade(
    empty_db: str,
) -> None:
    """pgqueue.enqueue gains `metadata` (a new signature, so a new function): a role granted
    enqueue before the upgrade keeps it, and grant_producer grants the new one."""
    migrate.upgrade(empty_db, PREVIOUS)
    run = uuid.uuid4().hex[:8]  # roles belong to the whole server: names of this run's own
    before, after_role = f"pgqueue_meta_before_{run}", f"pgqueue_meta_after_{run}"
    with psycopg.connect(empty_db, autocommit=True) as conn:
        for role in (before, after_role):
            conn.execute(f"DROP ROLE IF EXISTS {role}")  # type: ignore[arg-type]
            conn.execute(f"CREATE ROLE {role}")  # type: ignore[arg-type]
        try:
            conn.execute("SELECT pgqueue.grant_producer(%s)", (before,))
            migrate.upgrade(empty_db, REVISION)
            conn.execute("SELECT pgqueue.grant_producer(%s)", (after_role,))
            for role in (before, after_role):
                conn.execute(f"SET ROLE {role}")  # type: ignore[arg-type]
                conn.execute("SELECT pgqueue.enqueue('t', metadata => %s::jsonb)", ('{"k": "v"}',))
                conn.execute("RESET ROLE")
            assert rows(empty_db, "SELECT metadata::text FROM pgqueue.jobs") == [
                ('{"k": "v"}',),
                ('{"k": "v"}',),
            ]
            # Not granted: PUBLIC still may not enqueue.
            [[public]] = rows(
                empty_db,
                "SELECT has_function_privilege('public', %s::regprocedure, 'EXECUTE')",
                "pgqueue.enqueue(text, jsonb, jsonb, text, integer, timestamptz, integer, text, "
                "jsonb)",
            )
            assert public is False
            migrate.downgrade(empty_db, PREVIOUS)
            for role in (before, after_role):
                conn.execute(f"SET ROLE {role}")  # type: ignore[arg-type]
                conn.execute("SELECT pgqueue.enqueue('t')")
                conn.execute("RESET ROLE")
            assert rows(empty_db, "SELECT count(*) FROM pgqueue.jobs") == [(4,)]
        finally:
            conn.execute("RESET ROLE")
            for role in (before, after_role):
                conn.execute(f"REVOKE ALL ON SCHEMA pgqueue FROM {role}")  # type: ignore[arg-type]
                conn.execute("SELECT pgqueue.revoke_access(%s)", (role,))
                conn.execute(f"DROP ROLE {role}")  # type: ignore[arg-type]
