"""Finished means final: a CHECK that `finished_at` is set exactly when the state is `succeeded`,
`dead` or `cancelled` (pgqueue.jobs.jobs_finished_state_check).

Revision ID: 0006_finished_states
Revises: 0005_worker_health
Create Date: 2026-12-01

Retention, the dead-letter commands and the views all read finished_at; a final job without it is
never pruned nor counted, and a waiting job with it is pruned as if it had finished. pgqueue's
own writers always kept the rule (docs/states.md lists them); rows written by hand may not. The
upgrade repairs such rows instead of failing, and says how many it repaired (a NOTICE):

- a final job without finished_at gets finished_at = now() (its real end is unknown; retention
  then keeps it for one more retention period, counted from the upgrade);
- a job that is not final (it waits or runs) with finished_at set gets finished_at = NULL.

Nothing else about those rows changes. The constraint is then added NOT VALID (a catalog change)
and validated, as in 0004_hardening; a DBA with a large table can add and validate it beforehand,
outside a transaction (docs/migrations.md), and this revision then skips the ADD. The downgrade
drops the constraint; repaired rows stay repaired (the old finished_at values are not kept).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_finished_states"
down_revision: str | None = "0005_worker_health"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "jobs_finished_state_check"
FINAL = "state IN ('succeeded', 'dead', 'cancelled')"
# schema.py has the same expression.
CHECK = f"(finished_at IS NOT NULL) = ({FINAL})"

UPGRADE = f"""
DO $do$
DECLARE
    unfinished bigint;
    unfinal bigint;
BEGIN
    UPDATE pgqueue.jobs SET finished_at = now() WHERE {FINAL} AND finished_at IS NULL;
    GET DIAGNOSTICS unfinished = ROW_COUNT;
    UPDATE pgqueue.jobs SET finished_at = NULL WHERE NOT ({FINAL}) AND finished_at IS NOT NULL;
    GET DIAGNOSTICS unfinal = ROW_COUNT;
    IF unfinished + unfinal > 0 THEN
        RAISE NOTICE 'pgqueue 0006_finished_states: repaired % final job(s) without finished_at '
            '(set to now()) and % unfinished job(s) with one (cleared)', unfinished, unfinal;
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_constraint
        WHERE conrelid = 'pgqueue.jobs'::regclass AND conname = '{NAME}'
    ) THEN
        ALTER TABLE pgqueue.jobs ADD CONSTRAINT {NAME} CHECK ({CHECK}) NOT VALID;
    END IF;
    ALTER TABLE pgqueue.jobs VALIDATE CONSTRAINT {NAME};
END
$do$
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(f"ALTER TABLE pgqueue.jobs DROP CONSTRAINT {NAME}")
