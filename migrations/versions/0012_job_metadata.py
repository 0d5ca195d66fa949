"""Job metadata: a JSON object per job, jobs.metadata, for integrations to hand their own context
from the enqueuing code to the worker: the W3C trace context (traceparent, tracestate) that
pgqueue.contrib.otel writes (docs/tracing.md), and the rescue's note of a lost attempt
(`pgqueue.lost_attempt`).

Revision ID: 0012_job_metadata
Revises: 0008_sql_files
Create Date: 2026-12-01

What changes in the database: a column `metadata jsonb NOT NULL DEFAULT '{}'` with a CHECK that
it is a JSON object (a constant default: no table rewrite, an instant under its lock);
pgqueue.enqueue_input v2 returns a job's "metadata" (default {}), and pgqueue.enqueue_many v2
refuses a batch whose "metadata" is not an object and stores it. enqueue_input's result gains a
column, which CREATE OR REPLACE cannot do, so v1 is dropped first (it has no grants or comment of
its own; enqueue_many, its only caller, resolves it when it runs). pgqueue.enqueue keeps its
signature: SQL callers pass metadata through pgqueue.enqueue_many.
The downgrade loads the v1 files again and drops the column (the metadata of every job with it).
"""

from collections.abc import Sequence

from alembic import op

from pgqueue.migrate import sql_definition

revision: str = "0012_job_metadata"
down_revision: str | None = "0008_sql_files"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The files this revision loads, in order, with their sha256 (pgqueue.migrate.sql_digest).
FILES = {
    "functions/enqueue_input.v2.sql": (
        "197752a93c9f8d3d40ade2791348171dcdb5b08fa2c8bdd8b6800a5ad1df820f"
    ),
    "functions/enqueue_many.v2.sql": (
        "cac0fb28157f4fe2239e7de135b0a469700be540a1d3c7e1fb7c8e06a3ce2b3e"
    ),
}
PREVIOUS = ["functions/enqueue_input.v1.sql", "functions/enqueue_many.v1.sql"]

DROP_ENQUEUE_INPUT = "DROP FUNCTION pgqueue.enqueue_input(jsonb)"


def upgrade() -> None:
    op.execute(
        "ALTER TABLE pgqueue.jobs ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}'::jsonb, "
        "ADD CONSTRAINT jobs_metadata_check CHECK (jsonb_typeof(metadata) = 'object')"
    )
    op.execute(DROP_ENQUEUE_INPUT)
    for path in FILES:
        op.execute(sql_definition(path))


def downgrade() -> None:
    op.execute(DROP_ENQUEUE_INPUT)
    for path in PREVIOUS:
        op.execute(sql_definition(path))
    op.execute("ALTER TABLE pgqueue.jobs DROP COLUMN metadata")
