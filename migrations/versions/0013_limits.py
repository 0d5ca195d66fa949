"""Flow control: rate and concurrency limits per task (and per key) and per queue, enforced by
the claim (docs/limits.md).

Revision ID: 0013_limits
Revises: 0012_job_metadata
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
- Versioned files: enqueue_input.v3, enqueue_many.v3, enqueue.v3 (0012's v2 with the
  `limit_key` field), claim_limited.v1 (the limited claim; it returns the job's metadata as
  job_claim.sql does), limit_stats.v1 (the view), grant_producer.v1 and grant_worker.v1 (the
  grant helpers as files, naming pgqueue.enqueue by its name as 0012 does; grant_worker adds the
  flow-control tables, view and function).

pgqueue.enqueue and pgqueue.enqueue_input change their signatures, so they are dropped and
created again (0012's swap_enqueue: whoever could EXECUTE pgqueue.enqueue keeps that right, and
its comment is carried over). The downgrade puts back 0012's v2 files and 0012's grant helpers,
and drops what this revision added.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

from pgqueue.migrate import sql_definition

revision: str = "0013_limits"
down_revision: str | None = "0012_job_metadata"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The files this revision loads, in order, with their sha256 (pgqueue.migrate.sql_digest).
FILES = {
    "functions/enqueue_input.v3.sql": (
        "6475b626b1a4ef94bbdcf2250d47b70a693eac16d62cf697d2bf81a34f0469db"
    ),
    "functions/enqueue_many.v3.sql": (
        "4bd4c2862c1ed44f0c2cede4c88ff43fa5bf470a2f238511f8119fc0df2d4d62"
    ),
    # Loaded by swap_enqueue (a new signature), not by the loop in upgrade().
    "functions/enqueue.v3.sql": "5fcfe8c33ee973b1ac22d3fff67ace0286dc578aae71106104153e5e2fabbdef",
    "functions/claim_limited.v1.sql": (
        "308badfdd45916cb884b35c0f33dcae32992166165ed748125b1c247d367ab25"
    ),
    "views/limit_stats.v1.sql": "1213962022a28643f4afa1b4a8cb46ed6e3267fc319f337b353ef78ae4e9b76a",
    "functions/grant_producer.v1.sql": (
        "bb0951d99b4343b755894efedb58ecd4cb279cb481d6342e2b5885f0fa238e75"
    ),
    "functions/grant_worker.v1.sql": (
        "52345b899d07f1aa63d40b36811a6e69da94707e0458cf019f697e834b943bee"
    ),
}
ENQUEUE_FILE = "functions/enqueue.v3.sql"
PREVIOUS = ["functions/enqueue_input.v2.sql", "functions/enqueue_many.v2.sql"]
PREVIOUS_ENQUEUE = "functions/enqueue.v2.sql"

OLD_ENQUEUE = (
    "pgqueue.enqueue(text, jsonb, jsonb, text, integer, timestamptz, integer, text, jsonb)"
)
NEW_ENQUEUE = (
    "pgqueue.enqueue(text, jsonb, jsonb, text, integer, timestamptz, integer, text, jsonb, text)"
)
CONTROL = r"[\u0001-\u001f\u007f-\u009f]"
LIMIT_KEY_CHECK = (
    "limit_key IS NULL OR (limit_key <> '' AND octet_length(limit_key) <= 1000 "
    f"AND limit_key !~ '{CONTROL}')"
)


def _revision_module(filename: str) -> ModuleType:
    """An earlier revision's module, loaded from its file beside this one (as 0012 does)."""
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location(f"pgqueue_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _swap_enqueue(old: str, new: str, new_file: str) -> None:
    """Replace pgqueue.enqueue `old` by the definition in `new_file` (signature `new`) with 0012's
    swap_enqueue: the grants `old` had and 0003's comment carried over."""
    metadata = _revision_module("0012_job_metadata.py")
    comment = metadata._enqueue_comment()
    op.execute(metadata.swap_enqueue(old, new, sql_definition(new_file), comment))


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
        if path == ENQUEUE_FILE:
            _swap_enqueue(OLD_ENQUEUE, NEW_ENQUEUE, path)
        else:
            op.execute(sql_definition(path))
    op.execute(
        "COMMENT ON FUNCTION pgqueue.claim_limited(text[], integer, uuid) IS "
        "'Claims the limited jobs the limits allow now (docs/limits.md).'"
    )


def downgrade() -> None:
    metadata = _revision_module("0012_job_metadata.py")
    for statement in metadata.grant_functions(metadata.ENQUEUE_BY_NAME):
        op.execute(statement)
    op.execute("DROP VIEW pgqueue.limit_stats")
    op.execute("DROP FUNCTION pgqueue.claim_limited(text[], integer, uuid)")
    _swap_enqueue(NEW_ENQUEUE, OLD_ENQUEUE, PREVIOUS_ENQUEUE)
    op.execute("DROP FUNCTION pgqueue.enqueue_input(jsonb)")
    for path in PREVIOUS:
        op.execute(sql_definition(path))
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
