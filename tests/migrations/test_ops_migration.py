"""Revision 0003_operations: upgrade and downgrade round trip back to exactly 0001's schema
(functions included), the worker view guarded on the workers table, no drift from schema.py."""

from __future__ import annotations

from typing import Any

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from pgqueue import migrate
from pgqueue._schema import SCHEMA, VERSION_TABLE, metadata
from tests.conftest import create_database, drop_database, dsn_for

SNAPSHOT = {
    "columns": """
        SELECT table_name, column_name, data_type, is_nullable, column_default
        FROM information_schema.columns WHERE table_schema = 'pgqueue'
        ORDER BY table_name, column_name""",
    "indexes": """
        SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'pgqueue'
        ORDER BY indexname""",
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid),
               obj_description(p.oid, 'pg_proc')
        FROM pg_proc AS p WHERE p.pronamespace = 'pgqueue'::regnamespace
        ORDER BY 1, 2""",
    "views": """
        SELECT table_name FROM information_schema.views WHERE table_schema = 'pgqueue'
        ORDER BY 1""",
    "reloptions": """
        SELECT relname, reloptions FROM pg_class
        WHERE relnamespace = 'pgqueue'::regnamespace AND relkind = 'r' ORDER BY 1""",
    "triggers": """
        SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger
        WHERE tgrelid = 'pgqueue.jobs'::regclass AND NOT tgisinternal ORDER BY 1""",
}


def previous() -> str:
    """The revision 0003 sits on (0001_core now, 0002_workers once re-chained)."""
    script = ScriptDirectory.from_config(migrate.alembic_config()).get_revision("0003_operations")
    assert script is not None and isinstance(script.down_revision, str)
    return script.down_revision


def head_includes(revision: str) -> bool:
    """Whether the one head is `revision` or comes after it (later revisions build on 0003)."""
    script = ScriptDirectory.from_config(migrate.alembic_config())
    [head] = migrate.heads()
    return revision in {r.revision for r in script.walk_revisions("base", head)}


def snapshot(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(dsn) as conn:
        return {
            name: [tuple(row) for row in conn.execute(sql).fetchall()]  # type: ignore[arg-type]
            for name, sql in SNAPSHOT.items()
        }


def test_downgrade_restores_the_previous_schema_exactly(empty_db: str) -> None:
    reference = create_database()
    try:
        migrate.upgrade(dsn_for(reference), previous())
        expected = snapshot(dsn_for(reference))
    finally:
        drop_database(reference)

    migrate.upgrade(empty_db)
    upgraded = snapshot(empty_db)
    assert {"queue_stats", "task_throughput", "task_runtimes", "dead_letters"} <= {
        v[0] for v in upgraded["views"]
    }
    assert ("enqueue_input", "jobs jsonb") in [f[:2] for f in upgraded["functions"]]

    migrate.downgrade(empty_db, previous())
    assert snapshot(empty_db) == expected

    migrate.upgrade(empty_db)
    assert snapshot(empty_db) == upgraded


def test_head_has_the_operations_schema(empty_db: str) -> None:
    migrate.upgrade(empty_db)
    assert head_includes("0003_operations")
    with psycopg.connect(empty_db) as conn:
        version = conn.execute(f"SELECT version_num FROM {SCHEMA}.{VERSION_TABLE}").fetchall()
        columns = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'pgqueue' "
            "AND table_name = 'jobs' AND column_name IN ('unique_key', 'progress') ORDER BY 1"
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'pgqueue' "
            "AND indexname IN ('jobs_unique_key_idx', 'jobs_finished_idx') ORDER BY 1"
        ).fetchall()
    # The database itself is at the head, with the DBA's columns and indexes, each once.
    assert [v for (v,) in version] == migrate.heads()
    assert columns == [("progress",), ("unique_key",)]
    assert indexes == [
        (
            "jobs_finished_idx",
            "CREATE INDEX jobs_finished_idx ON pgqueue.jobs USING btree (state, finished_at) "
            "WHERE (state = ANY (ARRAY['succeeded'::text, 'dead'::text, 'cancelled'::text]))",
        ),
        (
            "jobs_unique_key_idx",
            "CREATE UNIQUE INDEX jobs_unique_key_idx ON pgqueue.jobs USING btree (unique_key) "
            "WHERE ((unique_key IS NOT NULL) AND (state = ANY (ARRAY['scheduled'::text, "
            "'queued'::text, 'running'::text, 'retrying'::text])))",
        ),
    ]
    snap = snapshot(empty_db)
    indexes = dict(snap["indexes"])
    assert indexes["jobs_unique_key_idx"].startswith(
        "CREATE UNIQUE INDEX jobs_unique_key_idx ON pgqueue.jobs USING btree (unique_key) WHERE"
    )
    assert indexes["jobs_finished_idx"].endswith(
        "USING btree (state, finished_at) WHERE (state = ANY "
        "(ARRAY['succeeded'::text, 'dead'::text, 'cancelled'::text]))"
    )
    reloptions = dict(snap["reloptions"])
    assert reloptions["jobs"] == [
        "autovacuum_vacuum_scale_factor=0.01",
        "autovacuum_vacuum_threshold=1000",
        "autovacuum_analyze_scale_factor=0.02",
        "autovacuum_analyze_threshold=1000",
        "autovacuum_vacuum_cost_limit=2000",
    ]
    enqueue = [f for f in snap["functions"] if f[0] == "enqueue"]
    assert [f[1] for f in enqueue] == [
        "task text, args jsonb, kwargs jsonb, queue text, priority integer, "
        "run_at timestamp with time zone, max_attempts integer, unique_key text, "
        "metadata jsonb, "  # 0012_job_metadata
        "limit_key text, "  # 0013_limits
        "depends_on bigint[], on_parent_failure text"  # 0014_workflows
    ]


def relation_exists(dsn: str, name: str) -> bool:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
    assert row is not None
    return bool(row[0])


def test_worker_view_only_where_the_workers_table_exists(empty_db: str) -> None:
    migrate.upgrade(empty_db)
    assert relation_exists(empty_db, "pgqueue.workers")
    assert relation_exists(empty_db, "pgqueue.worker_stats")
    # 0003 guards the one view that reads pgqueue.workers: on a database without the table it
    # creates every other view and skips that one, and its downgrade copes with either.
    migrate.downgrade(empty_db, previous())
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute("DROP TABLE pgqueue.workers")
    migrate.upgrade(empty_db, "0003_operations")
    assert relation_exists(empty_db, "pgqueue.queue_stats")
    assert not relation_exists(empty_db, "pgqueue.worker_stats")
    migrate.downgrade(empty_db, previous())
    assert not relation_exists(empty_db, "pgqueue.queue_stats")


def test_offline_sql_guards_the_worker_view() -> None:
    sql = migrate.upgrade_sql()
    assert "CREATE VIEW pgqueue.queue_stats" in sql
    assert "IF to_regclass('pgqueue.workers') IS NOT NULL THEN" in sql
    assert "ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL" in sql


def test_no_drift_between_migrations_and_schema(empty_db: str) -> None:
    migrate.upgrade(empty_db)
    engine = create_engine(empty_db.replace("postgresql://", "postgresql+psycopg://"))

    def include(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
        if type_ == "table":
            return bool(obj.schema == SCHEMA and name != VERSION_TABLE)
        return True

    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "include_schemas": True,
                    "include_object": include,
                    "version_table_schema": SCHEMA,
                    "version_table": VERSION_TABLE,
                },
            )
            diff = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_columns_and_indexes_built_beforehand_by_a_dba(empty_db: str) -> None:
    """docs/operations.md: on a large table the DBA adds the columns and builds the indexes
    CONCURRENTLY first; the migration then skips them."""
    migrate.upgrade(empty_db, "0001_core")
    with psycopg.connect(empty_db, autocommit=True) as conn:
        for statement in (
            "ALTER TABLE pgqueue.jobs ADD COLUMN IF NOT EXISTS unique_key text",
            "ALTER TABLE pgqueue.jobs ADD COLUMN IF NOT EXISTS progress jsonb",
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS jobs_unique_key_idx "
            "ON pgqueue.jobs (unique_key) WHERE unique_key IS NOT NULL "
            "AND state IN ('scheduled', 'queued', 'running', 'retrying')",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_finished_idx "
            "ON pgqueue.jobs (state, finished_at) "
            "WHERE state IN ('succeeded', 'dead', 'cancelled')",
        ):
            conn.execute(statement)  # type: ignore[arg-type]
    migrate.upgrade(empty_db)
    assert head_includes("0003_operations")
    with psycopg.connect(empty_db) as conn:
        version = conn.execute(f"SELECT version_num FROM {SCHEMA}.{VERSION_TABLE}").fetchall()
        columns = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'pgqueue' "
            "AND table_name = 'jobs' AND column_name IN ('unique_key', 'progress') ORDER BY 1"
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'pgqueue' "
            "AND indexname IN ('jobs_unique_key_idx', 'jobs_finished_idx') ORDER BY 1"
        ).fetchall()
    # The database itself is at the head, with the DBA's columns and indexes, each once.
    assert [v for (v,) in version] == migrate.heads()
    assert columns == [("progress",), ("unique_key",)]
    assert indexes == [
        (
            "jobs_finished_idx",
            "CREATE INDEX jobs_finished_idx ON pgqueue.jobs USING btree (state, finished_at) "
            "WHERE (state = ANY (ARRAY['succeeded'::text, 'dead'::text, 'cancelled'::text]))",
        ),
        (
            "jobs_unique_key_idx",
            "CREATE UNIQUE INDEX jobs_unique_key_idx ON pgqueue.jobs USING btree (unique_key) "
            "WHERE ((unique_key IS NOT NULL) AND (state = ANY (ARRAY['scheduled'::text, "
            "'queued'::text, 'running'::text, 'retrying'::text])))",
        ),
    ]
