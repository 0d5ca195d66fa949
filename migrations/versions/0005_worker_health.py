"""Worker health: what a worker reports beside its heartbeat (abandoned sync threads, whether it
claims, event loop stalls), and pgqueue.worker_stats showing it.

Revision ID: 0005_worker_health
Revises: 0004_hardening
Create Date: 2026-11-30

The new columns have constant defaults, so adding them rewrites nothing (PostgreSQL 11+) and
takes its lock only for a moment. worker_stats keeps every column of 0003 in order and gains the
new ones at the end (CREATE OR REPLACE VIEW can only append); the downgrade drops it and puts
back 0003's own text, loaded from its file, word for word.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0005_worker_health"
down_revision: str | None = "0004_hardening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WORKER_STATS = r"""
CREATE OR REPLACE VIEW pgqueue.worker_stats AS
SELECT w.id,
       w.hostname,
       w.pid,
       w.queues,
       w.concurrency,
       w.state,
       w.started_at,
       w.last_heartbeat,
       extract(epoch FROM now() - w.last_heartbeat)::float8 AS heartbeat_age_seconds,
       -- Each worker registers its own heartbeat_ttl: alive while a heartbeat is that fresh.
       (w.state IN ('running', 'stopping') AND w.last_heartbeat > now() - w.heartbeat_ttl)
           AS alive,
       w.processed,
       w.failed,
       w.active,
       (SELECT count(*) FROM pgqueue.jobs AS j WHERE j.state = 'running' AND j.worker_id = w.id)
           AS running_jobs,
       w.version,
       w.abandoned_threads,
       w.claiming,
       w.loop_stall_seconds,
       w.loop_stalls,
       -- Alive, claiming, and its event loop answering at the last heartbeat.
       (w.state IN ('running', 'stopping') AND w.last_heartbeat > now() - w.heartbeat_ttl
        AND w.claiming AND w.loop_stall_seconds = 0) AS healthy
FROM pgqueue.workers AS w
"""

WORKER_STATS_COMMENT = """
COMMENT ON VIEW pgqueue.worker_stats IS
    'Per worker: host, pid, queues, heartbeat age, alive (running or stopping, and a heartbeat '
    'within its heartbeat_ttl), processed / failed / active as the worker reports them, the '
    'running jobs it holds, and its health: sync threads abandoned by timed-out or cancelled '
    'tasks, whether it claims jobs, how long its event loop had not answered at the last '
    'heartbeat, stalls so far, and healthy (alive, claiming, loop answering).'
"""


def _operations_module() -> ModuleType:
    """Revision 0003's module, loaded from its file beside this one (see 0003's _core_module)."""
    path = Path(__file__).with_name("0003_operations.py")
    spec = importlib.util.spec_from_file_location("pgqueue_migration_0003_operations", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    columns = (
        # Sync task threads still running after their attempt was given up (timeout, cancel).
        sa.Column("abandoned_threads", sa.Integer(), nullable=False, server_default=sa.text("0")),
        # False while the worker holds back from claiming (too many abandoned threads).
        sa.Column("claiming", sa.Boolean(), nullable=False, server_default=sa.text("true")),
        # How long the event loop had not answered when the heartbeat was sent (0: it answers).
        sa.Column("loop_stall_seconds", sa.Float(), nullable=False, server_default=sa.text("0")),
        # Stalls of the event loop reported since the worker started.
        sa.Column("loop_stalls", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
    )
    for column in columns:
        op.add_column("workers", column, schema="pgqueue")
    op.execute(WORKER_STATS)
    op.execute(WORKER_STATS_COMMENT)


def downgrade() -> None:
    operations = _operations_module()
    op.execute("DROP VIEW pgqueue.worker_stats")
    for statement in operations.WORKER_VIEWS:  # 0003's view and comment, word for word
        op.execute(statement)
    for name in ("loop_stalls", "loop_stall_seconds", "claiming", "abandoned_threads"):
        op.drop_column("workers", name, schema="pgqueue")
