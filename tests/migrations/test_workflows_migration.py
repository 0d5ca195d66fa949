"""Revision 0014_workflows up and down: the waiting state, job_dependencies, the trigger, the new
pgqueue.enqueue signature with its grants carried over, and back to 0013's objects exactly."""

from __future__ import annotations

import uuid

import psycopg

from pgqueue import migrate
from tests.migrations.test_sql_files import objects, rows

REVISION = "0014_workflows"
PREVIOUS = "0013_limits"
# Roles belong to the whole server: a name of this run's own, so suites run at once never share one.
RUN = uuid.uuid4().hex[:8]
ROLE = f"pgqueue_workflows_producer_{RUN}"


def test_upgrade_and_downgrade_of_0014(empty_db: str) -> None:
    migrate.upgrade(empty_db, PREVIOUS)
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {ROLE}")  # type: ignore[arg-type]
        conn.execute(f"CREATE ROLE {ROLE}")  # type: ignore[arg-type]
    try:
        rows(empty_db, "SELECT pgqueue.grant_producer(%s)", ROLE)
        before = objects(empty_db)

        migrate.upgrade(empty_db, REVISION)
        with psycopg.connect(empty_db, autocommit=True) as conn:
            conn.execute(f"SET ROLE {ROLE}")  # type: ignore[arg-type]
            parent = conn.execute("SELECT pgqueue.enqueue('a')").fetchone()
            assert parent is not None
            child = conn.execute(
                "SELECT pgqueue.enqueue('b', depends_on => ARRAY[%s]::bigint[])", (parent[0],)
            ).fetchone()
            assert child is not None
            conn.execute("RESET ROLE")
        assert rows(empty_db, "SELECT state FROM pgqueue.jobs ORDER BY id") == [
            ("queued",),
            ("waiting",),
        ]
        assert rows(empty_db, "SELECT child_id, parent_id FROM pgqueue.job_dependencies") == [
            (child[0], parent[0])
        ]
        after = objects(empty_db)

        migrate.downgrade(empty_db, PREVIOUS)
        assert objects(empty_db) == before
        assert rows(empty_db, "SELECT state FROM pgqueue.jobs ORDER BY id") == [
            ("queued",),
            ("queued",),
        ]
        assert rows(empty_db, "SELECT to_regclass('pgqueue.job_dependencies')") == [(None,)]
        migrate.upgrade(empty_db, REVISION)
        assert objects(empty_db) == after
    finally:
        with psycopg.connect(empty_db, autocommit=True) as conn:
            conn.execute("SELECT pgqueue.revoke_access(%s)", (ROLE,))
            conn.execute(f"DROP ROLE {ROLE}")  # type: ignore[arg-type]
