"""Notifications from one place: statement-level AFTER triggers on pgqueue.jobs send every
wake-up (`pgqueue_jobs`, the queue name) and every completion notice (`pgqueue_done`, job ids),
for inserts and updates alike, instead of a NOTIFY pasted into each statement that changes a job.

Revision ID: 0007_notify_triggers
Revises: 0006_finished_states
Create Date: 2026-12-01

One function, pgqueue.notify_jobs(), runs once per statement (FOR EACH STATEMENT, with the
statement's rows as a transition table), however many rows it changed:

- one `pgqueue_jobs` NOTIFY per queue that has a row `queued` after the statement (a job enqueued,
  promoted, retried at once, put back by a shutdown, a rescue, a release or an operator);
- for an UPDATE, `pgqueue_done` with the ids of the rows that are finished after the statement
  and were not before it, 300 ids a NOTIFY so a payload stays far below PostgreSQL's 8000-byte
  limit.

PostgreSQL folds identical notifications of one transaction into one. A notification stays a
hint: listeners re-read the table. The channel names are pgqueue/channels.py's; the 0001 insert
trigger is replaced by one on the same function, and the downgrade puts 0001's back.
pgqueue.cancel() (0002) still sends its own `pgqueue_cancel` (a cancel request changes no state)
and its `pgqueue_done`, which is the trigger's notice word for word, so it is folded into it.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0007_notify_triggers"
down_revision: str | None = "0006_finished_states"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Completion notices come from UPDATEs only (the old table exists only there): nobody can be
# waiting for a job that is being inserted. A finished row is one with finished_at set
# (0006_finished_states holds that this is exactly the final states).
NOTIFY_FUNCTION = r"""
CREATE FUNCTION pgqueue.notify_jobs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pgqueue_jobs', q.queue)
    FROM (SELECT DISTINCT c.queue FROM changed AS c WHERE c.state = 'queued') AS q;
    IF TG_OP = 'UPDATE' THEN
        PERFORM pg_notify('pgqueue_done', string_agg(f.id::text, ','))
        FROM (
            SELECT c.id, (row_number() OVER ()) / 300 AS chunk
            FROM changed AS c
            WHERE c.finished_at IS NOT NULL
              AND NOT EXISTS (
                  SELECT 1 FROM previous AS b WHERE b.id = c.id AND b.finished_at IS NOT NULL
              )
        ) AS f
        GROUP BY f.chunk;
    END IF;
    RETURN NULL;
END
$$
"""

COMMENT = r"""
COMMENT ON FUNCTION pgqueue.notify_jobs() IS
    'Wakes workers (pgqueue_jobs, one NOTIFY per queue with queued rows) and result waiters '
    '(pgqueue_done, ids of rows that finished, 300 a NOTIFY) once per statement on pgqueue.jobs. '
    'A hint only: listeners re-read the table.'
"""

INSERT_TRIGGER = r"""
CREATE TRIGGER jobs_notify_inserted
    AFTER INSERT ON pgqueue.jobs
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION pgqueue.notify_jobs()
"""

UPDATE_TRIGGER = r"""
CREATE TRIGGER jobs_notify_updated
    AFTER UPDATE ON pgqueue.jobs
    REFERENCING OLD TABLE AS previous NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION pgqueue.notify_jobs()
"""


def _core_module() -> ModuleType:
    """Revision 0001's module, loaded from its file beside this one: the downgrade restores its
    insert trigger word for word."""
    path = Path(__file__).with_name("0001_core.py")
    spec = importlib.util.spec_from_file_location("pgqueue_migration_0001_core", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    op.execute(NOTIFY_FUNCTION)
    op.execute(COMMENT)
    op.execute("DROP TRIGGER jobs_notify_inserted ON pgqueue.jobs")
    op.execute("DROP FUNCTION pgqueue.notify_jobs_inserted()")
    op.execute(INSERT_TRIGGER)
    op.execute(UPDATE_TRIGGER)


def downgrade() -> None:
    core = _core_module()
    op.execute("DROP TRIGGER jobs_notify_updated ON pgqueue.jobs")
    op.execute("DROP TRIGGER jobs_notify_inserted ON pgqueue.jobs")
    op.execute("DROP FUNCTION pgqueue.notify_jobs()")
    op.execute(core.NOTIFY_FUNCTION)
    op.execute(core.NOTIFY_TRIGGER)
