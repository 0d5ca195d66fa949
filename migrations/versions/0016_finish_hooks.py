"""Finish hooks: the statements that finish jobs call pgqueue.jobs_finished(ids) for the
completion notices and the dependencies, and pgqueue.jobs loses its statement-level UPDATE
triggers with transition tables (issue 9's "the refactor must not cost speed", issue 18 goal 3).

Revision ID: 0016_finish_hooks
Revises: 0015_enqueue_fast
Create Date: 2026-12-01

A trigger with a transition table makes PostgreSQL capture every row, old and new, of every UPDATE
of the table into tuplestores, whatever the trigger then does: the claim, progress reports,
promotion. jobs_notify_updated (0007, pgqueue_done notices) and jobs_resolve_dependencies (0014)
had them, and cost 12% of a claim plus a completion (docs/benchmarks.md, "Finish hooks"). The
statements that finish jobs are few and known (a test keeps the list true:
tests/unit/test_finish_hooks.py), so each now hands the ids it finished to one function:

- pgqueue.jobs_finished(bigint[]) (functions/jobs_finished.v1.sql): the ids on pgqueue_done (300
  a NOTIFY, as before) and pgqueue.resolve_waiting() for their waiting children, the call
  resolve_dependencies() made;
- resolve_waiting v2 hands the children it cancels to jobs_finished() (their notices, what waits
  on them with on_parent_failure = 'run'); cancel v3 hands it the job cancelled at once;
- job_complete_many.sql, job_cancel_waiting.sql and job_rescue.sql call it in the same statement
  (not SQL this revision loads: they are the package's own queries);
- dropped: the triggers jobs_notify_finishing, jobs_notify_updated and jobs_resolve_dependencies
  and their functions pgqueue.notify_jobs_finishing() and pgqueue.resolve_dependencies().

The row trigger jobs_notify_queued (wake-ups for rows an UPDATE queues) and the insert trigger
are unchanged, and so is pgqueue.notify_jobs(), which both run. The downgrade puts back exactly
0014's triggers, functions and comments.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

from pgqueue.migrate import sql_definition

revision: str = "0016_finish_hooks"
down_revision: str | None = "0015_enqueue_fast"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The files this revision loads, in order, with their sha256 (pgqueue.migrate.sql_digest).
FILES = {
    "functions/jobs_finished.v1.sql": (
        "888ffbe4438087cef02d8b71b6b742ae2a683b0933cfe7c1bb303661695a033a"
    ),
    "functions/resolve_waiting.v2.sql": (
        "112d6b0315c1b3c440d8c5af0f4555969a176a988d98f8668da54d77e8bfb679"
    ),
    "functions/cancel.v3.sql": "f7f17868881351f72b626acc251ca24651047b95bfc88068b758c3f986e57cf7",
}
# Objects the upgrade drops: the newest file of each stays in the tree for the downgrade
# (tests/migrations/test_sql_files.py does not look for them in a database at head).
RETIRED = [
    "functions/notify_jobs_finishing.v1.sql",
    "functions/resolve_dependencies.v1.sql",
]
# What the downgrade loads again: 0014's versions.
PREVIOUS = ["functions/resolve_waiting.v1.sql", "functions/cancel.v2.sql"]

COMMENT = r"""
COMMENT ON FUNCTION pgqueue.jobs_finished(bigint[]) IS
    'Called by every statement that finishes jobs, with their ids: completion notices on '
    'pgqueue_done (300 ids a NOTIFY) and the waiting children handed to pgqueue.resolve_waiting().'
"""


def _revision_module(filename: str) -> ModuleType:
    """An earlier revision's module, loaded from its file beside this one (as 0012 does)."""
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location(f"pgqueue_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    op.execute("DROP TRIGGER jobs_resolve_dependencies ON pgqueue.jobs")
    op.execute("DROP TRIGGER jobs_notify_updated ON pgqueue.jobs")
    op.execute("DROP TRIGGER jobs_notify_finishing ON pgqueue.jobs")
    op.execute("DROP FUNCTION pgqueue.resolve_dependencies()")
    op.execute("DROP FUNCTION pgqueue.notify_jobs_finishing()")
    for path in FILES:
        op.execute(sql_definition(path))
    op.execute(COMMENT)


def downgrade() -> None:
    for path in PREVIOUS:
        op.execute(sql_definition(path))
    op.execute("DROP FUNCTION pgqueue.jobs_finished(bigint[])")
    notify_v2 = _revision_module("0009_notify_v2.py")
    op.execute(sql_definition("functions/notify_jobs_finishing.v1.sql"))
    op.execute(notify_v2.FINISHING_COMMENT)
    op.execute(sql_definition("functions/resolve_dependencies.v1.sql"))
    op.execute(notify_v2.FINISHING_TRIGGER)
    op.execute(_revision_module("0007_notify_triggers.py").UPDATE_TRIGGER)
    op.execute(_revision_module("0014_workflows.py").TRIGGER)
