"""SQL as the source of truth: every function and view body as a named file under pgqueue/sql
(functions/<name>.v1.sql, views/<name>.v1.sql), created from those files by this thin revision.

Revision ID: 0008_sql_files
Revises: 0007_notify_triggers
Create Date: 2026-12-01

What changes in the database: pgqueue.enqueue_many has one INSERT (0003 wrote it three times:
the plain batch, the first unique-key pass, the retry rounds), run in rounds; pgqueue.cancel()
no longer sends its own pgqueue_done NOTIFY, which the notify_jobs trigger (0007) repeats word for
word. The other files hold today's bodies as they are (enqueue, enqueue_input, notify_jobs, the
five views), so the next change to any of them is a new file, not a new copy inside a revision.

The scheme (docs/migrations.md, "SQL functions and views"): a revision names the files it loads
and pins each one's sha256; a landed file never changes (tests/migrations/test_sql_files.py fails
if one does, or if a file is loaded by no revision or by two), so an old revision runs the same
DDL forever. A change is a new version file (enqueue_many.v2.sql) and a new revision that loads it
and, on downgrade, loads the version before. Before this revision the definitions lived inside the
revisions, so this downgrade puts back theirs, loaded from those files word for word.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

from pgqueue.migrate import sql_definition

revision: str = "0008_sql_files"
down_revision: str | None = "0007_notify_triggers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The files this revision loads, in order, with their sha256 (pgqueue.migrate.sql_digest).
FILES = {
    "functions/enqueue_input.v1.sql": (
        "b36c0e67590d17e11cd50da378be93bc6b693c46f0849d3468e6333e685361e3"
    ),
    "functions/enqueue_many.v1.sql": (
        "8755c10a1e563715cb8b80dcd4282a0c7a554785c73f3acd4be1454b277c3f51"
    ),
    "functions/enqueue.v1.sql": "44b9783fe85802f2c042e292f03b2afcc878c0d77df5bba5eb58cda8f418222d",
    "functions/cancel.v1.sql": "e2eb7b6e93db79031ddd22c43b42aacd3bf201c44988075845732e71b46f93cf",
    "functions/notify_jobs.v1.sql": (
        "ef44f385d93db453d0342fb2aac344fb0e338f88288f2e384e222d637a367852"
    ),
    "views/queue_stats.v1.sql": "3db82ebf4d84747ffc51823649f88de645eccf8e0b0012f816dbbc014c92e04d",
    "views/task_throughput.v1.sql": (
        "eca0b4cf2b19b205dd984a8656836f4f032e57459fabcb4b12b57535bd206e93"
    ),
    "views/task_runtimes.v1.sql": (
        "6768435ad2f020a6e4d3a3f8356839468827f87bc8f7fe677d97d126041969a3"
    ),
    "views/dead_letters.v1.sql": "72b6cfd50ebc881027f0ddf99c178863c9563952f1438bb30843c3f7e6ba1127",
    "views/worker_stats.v1.sql": "f04035e0439ec52fca944e59f9d88fe3495c376c79276a439d142f74ddb6913c",
}


def _revision_module(filename: str) -> ModuleType:
    """An earlier revision's module, loaded from its file beside this one (see 0003's
    _core_module): the downgrade restores its definitions word for word."""
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location(f"pgqueue_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _or_replace(statement: str) -> str:
    for kind in ("FUNCTION", "VIEW"):
        statement = statement.replace(f"CREATE {kind}", f"CREATE OR REPLACE {kind}", 1)
    return statement


def previous_definitions() -> list[str]:
    """What 0002..0007 left in place of each file, in FILES' order."""
    workers = _revision_module("0002_workers.py")
    operations = _revision_module("0003_operations.py")
    hardening = _revision_module("0004_hardening.py")
    health = _revision_module("0005_worker_health.py")
    notify = _revision_module("0007_notify_triggers.py")
    views = [s for s in operations.VIEWS if s.lstrip().startswith("CREATE VIEW")]
    return [
        _or_replace(operations.ENQUEUE_INPUT),
        hardening.hardened_enqueue_many(operations.ENQUEUE_MANY),
        _or_replace(operations.ENQUEUE),
        _or_replace(workers.CANCEL),
        _or_replace(notify.NOTIFY_FUNCTION),
        *(_or_replace(view) for view in views),
        health.WORKER_STATS,
    ]


def upgrade() -> None:
    # CREATE OR REPLACE keeps each object's owner, grants (0004's) and comment.
    for path in FILES:
        op.execute(sql_definition(path))


def downgrade() -> None:
    for statement in previous_definitions():
        op.execute(statement)
