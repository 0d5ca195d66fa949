"""Workers and their heartbeats; cancellation requests; pgqueue.cancel().

Revision ID: 0002_workers
Revises: 0001_core
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_workers"
down_revision: str | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One function serves Python, the CLI and psql. A queued job is cancelled at once; a running job
# is flagged (cancel_requested_at) and its worker told by NOTIFY; the worker also checks the flag
# on every heartbeat, so a missed notification only delays the cancel. Returns what happened.
CANCEL = r"""
CREATE FUNCTION pgqueue.cancel(job_id bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    current text;
BEGIN
    SELECT j.state INTO current FROM pgqueue.jobs AS j WHERE j.id = job_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'not_found';
    END IF;
    IF current IN ('scheduled', 'queued', 'retrying') THEN
        UPDATE pgqueue.jobs AS j
        SET state = 'cancelled', finished_at = now(), cancel_requested_at = now()
        WHERE j.id = job_id;
        PERFORM pg_notify('pgqueue_done', job_id::text);
        RETURN 'cancelled';
    END IF;
    IF current = 'running' THEN
        UPDATE pgqueue.jobs AS j SET cancel_requested_at = coalesce(j.cancel_requested_at, now())
        WHERE j.id = job_id;
        PERFORM pg_notify('pgqueue_cancel', job_id::text);
        RETURN 'cancelling';
    END IF;
    -- Already finished: nothing to do; the caller learns the final state.
    RETURN current;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", postgresql.UUID(as_uuid=False), nullable=False),
        sa.Column("hostname", sa.Text(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("queues", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False, server_default=sa.text("'running'")),
        sa.Column("heartbeat_ttl", sa.Interval(), nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.Column(
            "last_heartbeat",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("processed", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("failed", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("active", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.CheckConstraint(
            "state IN ('running', 'stopping', 'stopped', 'lost')", name=op.f("workers_state_check")
        ),
        sa.PrimaryKeyConstraint("id", name="workers_pkey"),
        schema="pgqueue",
    )
    op.add_column(
        "jobs",
        sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True),
        schema="pgqueue",
    )
    op.execute(CANCEL)


def downgrade() -> None:
    op.execute("DROP FUNCTION pgqueue.cancel(bigint)")
    op.drop_column("jobs", "cancel_requested_at", schema="pgqueue")
    op.drop_table("workers", schema="pgqueue")
