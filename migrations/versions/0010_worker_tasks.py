"""Workers record the task names they serve, so `pgqueue enqueue` and `pgqueue status` can warn
about a task name no live worker serves (a typo, a module the worker does not import).

Revision ID: 0010_worker_tasks
Revises: 0009_notify_v2
Create Date: 2026-12-01

One column, pgqueue.workers.tasks (text[], default '{}'): a constant default, so adding it
rewrites nothing and takes its lock only for a moment. A worker writes it at registration and on
every heartbeat (worker_heartbeat.sql). Rows of workers started before the upgrade keep '{}'
until their next beat writes it; `pgqueue status` counts a worker with an empty list as "tasks
unknown" and warns about nothing then (see pgqueue/_sql/task_unserved_list.sql).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision: str = "0010_worker_tasks"
down_revision: str | None = "0009_notify_v2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "workers",
        sa.Column("tasks", ARRAY(sa.Text()), nullable=False, server_default=sa.text("'{}'")),
        schema="pgqueue",
    )


def downgrade() -> None:
    op.drop_column("workers", "tasks", schema="pgqueue")
