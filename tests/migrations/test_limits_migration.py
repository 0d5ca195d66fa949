"""Revision 0013_limits: jobs keep their rows (unlimited), pgqueue.enqueue takes limit_key and
keeps its grants across the signature change both ways, the claim index gains `limited`, and the
downgrade leaves 0012's schema (columns, index, functions, grants) as it was."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from pgqueue import migrate

REVISION = "0013_limits"
PREVIOUS = "0012_job_metadata"
# Roles belong to the whole server: a name of this run's own, so suites run at once never share one.
RUN = uuid.uuid4().hex[:8]
ROLE = f"pgqueue_limits_producer_{RUN}"


def rows(dsn: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute(sql, params or None).fetchall()]  # type: ignore[arg-type]


def enqueue_grants(dsn: str) -> list[tuple[Any, ...]]:
    return rows(
        dsn,
        "SELECT pg_get_function_identity_arguments(p.oid), coalesce(p.proacl::text, ''), "
        "obj_description(p.oid, 'pg_proc') IS NOT NULL "
        "FROM pg_proc AS p WHERE p.pronamespace = 'pgqueue'::regnamespace "
        "AND p.proname = 'enqueue'",
    )


def claim_index(dsn: str) -> str:
    [[definition]] = rows(dsn, "SELECT indexdef FROM pg_indexes WHERE indexname = 'jobs_claim_idx'")
    return str(definition)


def as_producer(dsn: str, sql: str) -> Any:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"SET ROLE {ROLE}")  # type: ignore[arg-type]
        return conn.execute(sql).fetchone()[0]  # type: ignore[arg-type,index]


def test_upgrade_and_downgrade_keep_jobs_grants_and_the_claim_index(empty_db: str) -> None:
    migrate.upgrade(empty_db, PREVIOUS)
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {ROLE}")  # type: ignore[arg-type]
        conn.execute(f"CREATE ROLE {ROLE}")  # type: ignore[arg-type]
    try:
        rows(empty_db, "SELECT pgqueue.grant_producer(%s)", ROLE)
        old_id = as_producer(empty_db, "SELECT pgqueue.enqueue('before')")
        before_grants, before_index = enqueue_grants(empty_db), claim_index(empty_db)

        migrate.upgrade(empty_db, REVISION)
        [(args, acl, commented)] = enqueue_grants(empty_db)
        assert args.endswith("unique_key text, metadata jsonb, limit_key text")
        assert acl == before_grants[0][1] and commented  # the same grants, the comment kept
        assert "(queue, limited, priority DESC, run_at, id)" in claim_index(empty_db)
        assert rows(empty_db, "SELECT id, limited, limit_key FROM pgqueue.jobs") == [
            (old_id, False, None)
        ]
        new_id = as_producer(empty_db, "SELECT pgqueue.enqueue('after', limit_key => 't-1')")
        assert rows(
            empty_db, "SELECT limit_key, limited FROM pgqueue.jobs WHERE id = %s", new_id
        ) == [
            ("t-1", False)  # no limits registered for its task
        ]
        # grant_producer knows the new signature.
        rows(empty_db, "SELECT pgqueue.grant_producer(%s)", ROLE)

        migrate.downgrade(empty_db, PREVIOUS)
        assert enqueue_grants(empty_db) == before_grants
        assert claim_index(empty_db) == before_index
        columns = rows(
            empty_db,
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'pgqueue' "
            "AND table_name = 'jobs' AND column_name IN ('limited', 'limit_key')",
        )
        assert columns == []
        assert rows(
            empty_db, "SELECT to_regclass('pgqueue.limits'), to_regclass('pgqueue.limit_stats')"
        ) == [(None, None)]
        assert as_producer(empty_db, "SELECT pgqueue.enqueue('down again')") > new_id
        rows(empty_db, "SELECT pgqueue.grant_producer(%s)", ROLE)  # 0012's helper is back

        migrate.upgrade(empty_db, REVISION)
        assert enqueue_grants(empty_db)[0][1] == before_grants[0][1]
    finally:
        with psycopg.connect(empty_db, autocommit=True) as conn:
            conn.execute("SELECT pgqueue.revoke_access(%s)", (ROLE,))
            conn.execute(f"DROP ROLE {ROLE}")  # type: ignore[arg-type]
