"""Hardening: names bounded on every path (CHECK constraints on pgqueue.jobs, the same checks in
pgqueue.enqueue_many), enqueue_many as SECURITY DEFINER so a producer role needs no table
privileges, and functions that grant a producer or a worker role what it needs.

Revision ID: 0004_hardening
Revises: 0003_operations
Create Date: 2026-11-24

Names: task and queue names 1 to 200 bytes of UTF-8, unique keys 1 to 1,000 bytes, none with a
control character (U+0001-U+001F, U+007F-U+009F; U+0000 cannot be stored in text or jsonb at
all). pgqueue/names.py holds the same limits for Python. A queue name is the payload of every
`pgqueue_jobs` notification, so these constraints bound those payloads: no NOTIFY can fail
("payload string too long") on a row's data, and no row can stop a promotion batch.

Locks: each constraint is added NOT VALID (a catalog change, no scan) and then validated. In one
transaction with the ADD (pgqueue migrate runs all pending revisions in one), the validation
scans under the ADD's ACCESS EXCLUSIVE lock, so on a large table a DBA adds and validates the
constraints beforehand, outside a transaction, where VALIDATE takes only SHARE UPDATE EXCLUSIVE
(reads and writes go on); this revision then skips the ADD and its VALIDATE finds nothing to do
(docs/migrations.md, "0004_hardening"). Rows that break a limit make the
revision fail with a message that counts them and names the first, and change nothing.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0004_hardening"
down_revision: str | None = "0003_operations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Unicode category Cc without U+0000 (which text cannot hold): the same set names.py refuses.
CONTROL = r"[\u0001-\u001f\u007f-\u009f]"

# name -> (CHECK expression, what it refuses, in words). schema.py has the same expressions.
CONSTRAINTS = {
    "jobs_task_name_check": (
        f"task <> '' AND octet_length(task) <= 200 AND task !~ '{CONTROL}'",
        "task name that is empty, over 200 bytes or holds a control character",
    ),
    "jobs_queue_name_check": (
        f"queue <> '' AND octet_length(queue) <= 200 AND queue !~ '{CONTROL}'",
        "queue name that is empty, over 200 bytes or holds a control character",
    ),
    "jobs_unique_key_check": (
        "unique_key IS NULL OR (unique_key <> '' AND octet_length(unique_key) <= 1000 "
        f"AND unique_key !~ '{CONTROL}')",
        "unique key that is empty, over 1000 bytes or holds a control character",
    ),
}

ENQUEUE_SIGNATURE = "pgqueue.enqueue(text, jsonb, jsonb, text, integer, timestamptz, integer, text)"
ENQUEUE_FUNCTIONS = f"pgqueue.enqueue_many(jsonb), {ENQUEUE_SIGNATURE}"

# The checks enqueue_many adds to 0003's, each after the existing check of the same field, so a
# batch is refused naming the job, the field and the limit before anything is written (the
# constraints would refuse it too, with a less helpful message).
NAME_CHECKS = {
    """                THEN 'needs a non-empty "task" name'
""": f"""            WHEN octet_length(e.job ->> 'task') > 200
                THEN format('has a "task" name of %s bytes: the limit is 200 bytes (UTF-8)',
                            octet_length(e.job ->> 'task'))
            WHEN (e.job ->> 'task') ~ '{CONTROL}'
                THEN 'has a control character in its "task" name: names must be printable'
""",
    """                THEN 'has an empty or non-text "queue"'
""": f"""            WHEN octet_length(e.job ->> 'queue') > 200
                THEN format('has a "queue" name of %s bytes: the limit is 200 bytes (UTF-8)',
                            octet_length(e.job ->> 'queue'))
            WHEN (e.job ->> 'queue') ~ '{CONTROL}'
                THEN 'has a control character in its "queue" name: names must be printable'
""",
    """                THEN 'has an empty or non-text "unique_key"'
""": f"""            WHEN octet_length(e.job ->> 'unique_key') > 1000
                THEN format('has a "unique_key" of %s bytes: the limit is 1000 bytes (UTF-8)',
                            octet_length(e.job ->> 'unique_key'))
            WHEN (e.job ->> 'unique_key') ~ '{CONTROL}'
                THEN 'has a control character in its "unique_key": keys must be printable'
""",
}

# SECURITY DEFINER: the function inserts as its owner, so a producer needs EXECUTE on it and
# USAGE on the schema, and no privilege on pgqueue.jobs. A fixed search_path (pg_catalog, then
# pg_temp last) keeps a caller's own schemas and temporary objects out of every name it resolves;
# its own objects are all schema-qualified.
DEFINER = "LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$"


def _operations_module() -> ModuleType:
    """Revision 0003's module, loaded from its file beside this one: enqueue_many is 0003's
    text with the name checks added, and the downgrade restores 0003's text word for word."""
    path = Path(__file__).with_name("0003_operations.py")
    spec = importlib.util.spec_from_file_location("pgqueue_migration_0003_operations", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def hardened_enqueue_many(previous: str) -> str:
    text = previous
    for anchor, checks in NAME_CHECKS.items():
        assert text.count(anchor) == 1, anchor
        text = text.replace(anchor, anchor + checks)
    assert text.count("LANGUAGE plpgsql AS $$") == 1
    return text.replace("LANGUAGE plpgsql AS $$", DEFINER)


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _add_and_validate(name: str, expression: str, refused: str) -> str:
    """Add the constraint NOT VALID unless it exists (a DBA may have added it beforehand), then
    validate it; rows that break it fail the revision with a count, the first id and a query."""
    finder = f"SELECT id, state, task, queue FROM pgqueue.jobs WHERE NOT ({expression})"
    hint = (
        f"List them with: {finder}; then shorten the names or delete the jobs, and run "
        'pgqueue migrate again (docs/migrations.md, "0004_hardening").'
    )
    return f"""
DO $do$
DECLARE
    bad bigint;
    first_id bigint;
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_constraint
        WHERE conrelid = 'pgqueue.jobs'::regclass AND conname = '{name}'
    ) THEN
        ALTER TABLE pgqueue.jobs ADD CONSTRAINT {name} CHECK ({expression}) NOT VALID;
    END IF;
    ALTER TABLE pgqueue.jobs VALIDATE CONSTRAINT {name};
EXCEPTION WHEN check_violation THEN
    SELECT count(*), min(j.id) INTO bad, first_id FROM pgqueue.jobs AS j WHERE NOT ({expression});
    RAISE EXCEPTION 'pgqueue 0004_hardening: % job(s) have a {refused} (first: job %); nothing was changed', bad, first_id
        USING ERRCODE = 'check_violation', HINT = {_sql_literal(hint)};
END
$do$
"""


# Who could enqueue before this revision keeps that right: with SECURITY DEFINER, EXECUTE (no
# longer granted to PUBLIC) is what lets a role enqueue, so every role that had INSERT on
# pgqueue.jobs (the privilege 0003's enqueue_many needed) gets EXECUTE.
KEEP_ENQUEUERS = f"""
DO $do$
DECLARE
    grantee text;
BEGIN
    REVOKE EXECUTE ON FUNCTION {ENQUEUE_FUNCTIONS} FROM PUBLIC;
    FOR grantee IN
        SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END
        FROM pg_catalog.pg_class AS c, pg_catalog.aclexplode(c.relacl) AS a
        WHERE c.oid = 'pgqueue.jobs'::regclass AND a.privilege_type = 'INSERT'
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION {ENQUEUE_FUNCTIONS} TO %s', grantee);
    END LOOP;
END
$do$
"""

# What a least-privileged role needs, kept beside the schema so a later revision that adds an
# object updates the grants with it. SECURITY INVOKER: only a role that may grant on pgqueue's
# objects (their owner, the role that ran the migrations) can run them.
GRANT_FUNCTIONS = (
    f"""
CREATE FUNCTION pgqueue.grant_producer(role regrole) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA pgqueue TO %s', role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION {ENQUEUE_FUNCTIONS} TO %s', role);
END
$$
""",
    f"""
CREATE FUNCTION pgqueue.grant_worker(role regrole) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA pgqueue TO %s', role);
    -- Claim, outcomes, progress, rescue, promotion, retention; enqueue goes through the function.
    EXECUTE format('GRANT SELECT, UPDATE, DELETE ON pgqueue.jobs TO %s', role);
    -- Heartbeats, the maintenance lease, periodic schedules.
    EXECUTE format(
        'GRANT SELECT, INSERT, UPDATE, DELETE ON pgqueue.workers, pgqueue.leases, '
        'pgqueue.schedules TO %s', role);
    -- Metrics and `pgqueue status`.
    EXECUTE format(
        'GRANT SELECT ON pgqueue.queue_stats, pgqueue.task_throughput, pgqueue.task_runtimes, '
        'pgqueue.dead_letters, pgqueue.worker_stats TO %s', role);
    EXECUTE format(
        'GRANT EXECUTE ON FUNCTION {ENQUEUE_FUNCTIONS}, pgqueue.cancel(bigint) TO %s', role);
END
$$
""",
    """
CREATE FUNCTION pgqueue.revoke_access(role regrole) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA pgqueue FROM %s', role);
    EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pgqueue FROM %s', role);
    EXECUTE format('REVOKE ALL ON SCHEMA pgqueue FROM %s', role);
END
$$
""",
    "REVOKE EXECUTE ON FUNCTION pgqueue.grant_producer(regrole), pgqueue.grant_worker(regrole), "
    "pgqueue.revoke_access(regrole) FROM PUBLIC",
    """
COMMENT ON FUNCTION pgqueue.grant_producer(regrole) IS
    'Grants a role what enqueueing needs and nothing else: USAGE on schema pgqueue, EXECUTE on '
    'pgqueue.enqueue and pgqueue.enqueue_many (docs/security.md).'
""",
    """
COMMENT ON FUNCTION pgqueue.grant_worker(regrole) IS
    'Grants a role what a pgqueue worker needs: jobs read, updated and pruned, its own '
    'bookkeeping tables, the monitoring views, enqueue and cancel (docs/security.md).'
""",
    """
COMMENT ON FUNCTION pgqueue.revoke_access(regrole) IS
    'Revokes every privilege a role holds on schema pgqueue and its objects (docs/security.md).'
""",
)


def upgrade() -> None:
    for name, (expression, refused) in CONSTRAINTS.items():
        op.execute(_add_and_validate(name, expression, refused))
    op.execute(hardened_enqueue_many(_operations_module().ENQUEUE_MANY))
    op.execute(KEEP_ENQUEUERS)
    for statement in GRANT_FUNCTIONS:
        op.execute(statement)


def downgrade() -> None:
    for function in ("revoke_access", "grant_worker", "grant_producer"):
        op.execute(f"DROP FUNCTION pgqueue.{function}(regrole)")
    op.execute(f"GRANT EXECUTE ON FUNCTION {ENQUEUE_FUNCTIONS} TO PUBLIC")
    # 0003's own text: CREATE OR REPLACE sets every attribute anew, so SECURITY DEFINER and the
    # search_path go with it.
    op.execute(_operations_module().ENQUEUE_MANY)
    for name in reversed(CONSTRAINTS):
        op.execute(f"ALTER TABLE pgqueue.jobs DROP CONSTRAINT {name}")
