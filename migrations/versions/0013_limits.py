"""Flow control: rate and concurrency limits per task (and per key) and per queue, enforced by
the claim (docs/limits.md).

Revision ID: 0013_limits
Revises: 0008_sql_files
Create Date: 2026-12-01

What changes in the database:
- pgqueue.jobs gets `limit_key` (text, the job's key within its task's limits; checked like
  unique_key) and `limited` (boolean, false by default: set at enqueue when the job's task or
  queue has limits, so the plain claim can leave such jobs out through its index).
- jobs_claim_idx becomes (queue, limited, priority DESC, run_at, id) WHERE state = 'queued': the
  plain claim reads `queue = $q AND NOT limited` in claim order and stops after LIMIT rows, however
  many limited jobs wait ahead of its own; queue_stats still counts ready jobs from it.
- jobs_limited_idx (the limited claim's groups and their jobs in claim order) and
  jobs_limited_running_idx (the running counts), both partial over limited rows only.
- pgqueue.limits (one row per limited task or queue, registered by the workers) and
  pgqueue.limit_buckets (a rate's token bucket per task and key, per queue).
- Versioned files: enqueue_input.v2, enqueue_many.v2, enqueue.v2 (the `limit_key` field),
  claim_limited.v1 (the limited claim), limit_stats.v1 (the view), grant_producer.v1 and
  grant_worker.v1 (0004's grant helpers, with the new signature and objects).

pgqueue.enqueue and pgqueue.enqueue_input change their signatures, so they are dropped and
created again; whoever could EXECUTE pgqueue.enqueue keeps that right. The downgrade puts back
0008's files and 0004's grant helpers, and drops what this revision added.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

from pgqueue.migrate import sql_definition

revision: str = "0013_limits"
down_revision: str | None = "0008_sql_files"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The files this revision loads, in order, with their sha256 (pgqueue.migrate.sql_digest).
FILES = {
    "functions/enqueue_input.v2.sql": (
        "3d0a4e4942a7f1b817986bc00cbab90ed653f3438b3d18d50c0fb4222ba4f3af"
    ),
    "functions/enqueue_many.v2.sql": (
        "baf339b841c052633d1a49a280ab2027f4e55aa4766f7ffacc6d04710abd8f01"
    ),
    "functions/enqueue.v2.sql": "a687466454aa143b7a5a57e8dde254eaf06bb6f9ca30bbb9127d34aa8f6c8a8d",
    "functions/claim_limited.v1.sql": (
        "04fe249627388e56fcc99566dedc083ae786e9ea3b14efb8dba615fa1bfeb140"
    ),
    "views/limit_stats.v1.sql": "1213962022a28643f4afa1b4a8cb46ed6e3267fc319f337b353ef78ae4e9b76a",
    "functions/grant_producer.v1.sql": (
        "fa0374ceb289c29000ad42127f8a35fb752a74b8f1f8e765439adefdb3dda02c"
    ),
    "functions/grant_worker.v1.sql": (
        "4f474e57c050063cfac7ea4dd47113263b1d1b76cb72b92b692534eebef3c08e"
    ),
}

OLD_ENQUEUE = "pgqueue.enqueue(text, jsonb, jsonb, text, integer, timestamptz, integer, text)"
NEW_ENQUEUE = "pgqueue.enqueue(text, jsonb, jsonb, text, integer, timestamptz, integer, text, text)"
CONTROL = r"[\u0001-\u001f\u007f-\u009f]"
LIMIT_KEY_CHECK = (
    "limit_key IS NULL OR (limit_key <> '' AND octet_length(limit_key) <= 1000 "
    f"AND limit_key !~ '{CONTROL}')"
)


def _keep_grants(old: str, new: str) -> str:
    """Who could EXECUTE `old` may EXECUTE `new` (both exist: `old` is dropped after)."""
    return f"""
DO $do$
DECLARE
    grantee text;
BEGIN
    FOR grantee IN
        SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END
        FROM pg_catalog.pg_proc AS p, pg_catalog.aclexplode(p.proacl) AS a
        WHERE p.oid = '{old}'::regprocedure AND a.privilege_type = 'EXECUTE'
          AND a.grantee <> p.proowner
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION {new} TO %s', grantee);
    END LOOP;
END
$do$
"""


def _swap_enqueue(old: str, new: str, new_file: str) -> None:
    """Replace pgqueue.enqueue `old` by the definition in `new_file` (signature `new`), with the
    grants `old` had (PUBLIC included only if `old` had it)."""
    op.execute(sql_definition(new_file))
    op.execute(f"REVOKE EXECUTE ON FUNCTION {new} FROM PUBLIC")
    op.execute(_keep_grants(old, new))
    op.execute(
        "DO $do$ BEGIN EXECUTE format('COMMENT ON FUNCTION "
        f"{new} IS %L', obj_description('{old}'::regprocedure, 'pg_proc')); END $do$"
    )
    op.execute(f"DROP FUNCTION {old}")


def upgrade() -> None:
    op.add_column("jobs", sa.Column("limit_key", sa.Text(), nullable=True), schema="pgqueue")
    op.add_column(
        "jobs",
        sa.Column("limited", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        schema="pgqueue",
    )
    op.create_check_constraint(
        op.f("jobs_limit_key_check"), "jobs", LIMIT_KEY_CHECK, schema="pgqueue"
    )
    op.drop_index("jobs_claim_idx", table_name="jobs", schema="pgqueue")
    op.create_index(
        "jobs_claim_idx",
        "jobs",
        ["queue", "limited", sa.text("priority DESC"), "run_at", "id"],
        schema="pgqueue",
        postgresql_where=sa.text("state = 'queued'"),
    )
    op.create_index(
        "jobs_limited_idx",
        "jobs",
        [
            "queue",
            "task",
            sa.text("COALESCE(limit_key, ''::text)"),
            sa.text("priority DESC"),
            "run_at",
            "id",
        ],
        schema="pgqueue",
        postgresql_where=sa.text("state = 'queued' AND limited"),
    )
    op.create_index(
        "jobs_limited_running_idx",
        "jobs",
        ["task", "limit_key", "queue"],
        schema="pgqueue",
        postgresql_where=sa.text("state = 'running' AND limited"),
    )
    op.create_table(
        "limits",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=True),
        sa.Column("rate_count", sa.Integer(), nullable=True),
        sa.Column("rate_seconds", sa.Float(), nullable=True),
        sa.Column("burst", sa.Integer(), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("scope IN ('task', 'queue')", name=op.f("limits_scope_check")),
        sa.CheckConstraint(
            "concurrency IS NULL OR concurrency >= 1", name=op.f("limits_concurrency_check")
        ),
        sa.CheckConstraint(
            "(rate_count IS NULL) = (rate_seconds IS NULL) AND (rate_count IS NULL) = "
            "(burst IS NULL) AND (rate_count IS NULL OR (rate_count >= 1 AND rate_seconds > 0 "
            "AND burst >= 1))",
            name=op.f("limits_rate_check"),
        ),
        sa.PrimaryKeyConstraint("scope", "name", name="limits_pkey"),
        schema="pgqueue",
    )
    op.create_table(
        "limit_buckets",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("refilled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "name", "key", name="limit_buckets_pkey"),
        schema="pgqueue",
    )
    # enqueue_input's result gains a column: CREATE OR REPLACE cannot change it.
    op.execute("DROP FUNCTION pgqueue.enqueue_input(jsonb)")
    for path in FILES:
        if path == "functions/enqueue.v2.sql":
            _swap_enqueue(OLD_ENQUEUE, NEW_ENQUEUE, path)
        else:
            op.execute(sql_definition(path))
    op.execute(
        "COMMENT ON FUNCTION pgqueue.claim_limited(text[], integer, uuid) IS "
        "'Claims the limited jobs the limits allow now (docs/limits.md).'"
    )


def _revision_module(filename: str):  # type: ignore[no-untyped-def]
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location(f"pgqueue_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def downgrade() -> None:
    hardening = _revision_module("0004_hardening.py")
    for statement in hardening.GRANT_FUNCTIONS[:2]:
        op.execute(statement.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    op.execute("DROP VIEW pgqueue.limit_stats")
    op.execute("DROP FUNCTION pgqueue.claim_limited(text[], integer, uuid)")
    _swap_enqueue(NEW_ENQUEUE, OLD_ENQUEUE, "functions/enqueue.v1.sql")
    op.execute("DROP FUNCTION pgqueue.enqueue_input(jsonb)")
    op.execute(sql_definition("functions/enqueue_input.v1.sql"))
    op.execute(sql_definition("functions/enqueue_many.v1.sql"))
    op.drop_table("limit_buckets", schema="pgqueue")
    op.drop_table("limits", schema="pgqueue")
    op.drop_index("jobs_limited_running_idx", table_name="jobs", schema="pgqueue")
    op.drop_index("jobs_limited_idx", table_name="jobs", schema="pgqueue")
    op.drop_index("jobs_claim_idx", table_name="jobs", schema="pgqueue")
    op.create_index(
        "jobs_claim_idx",
        "jobs",
        ["queue", sa.text("priority DESC"), "run_at", "id"],
        schema="pgqueue",
        postgresql_where=sa.text("state = 'queued'"),
    )
    op.drop_constraint(op.f("jobs_limit_key_check"), "jobs", schema="pgqueue", type_="check")
    op.drop_column("jobs", "limited", schema="pgqueue")
    op.drop_column("jobs", "limit_key", schema="pgqueue")
