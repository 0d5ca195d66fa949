"""A single enqueue in fewer statements on the server (issue 18 goal 1, docs/benchmarks.md).

Revision ID: 0018_enqueue_one_v2
Revises: 0017_enqueue_batch
Create Date: 2026-12-02

What changes in the database:
- pgqueue.enqueue_one(...) v2: the same signature, row, checks, messages, defaults, unique-key
  rounds and wake-up as v1, in fewer statements: the checks as one expression while the job is
  valid (v1's chain runs only to name a problem), the defaults inside the INSERT, the NOTIFY in
  the INSERT's own statement. The round limit's error names pgqueue.enqueue_one (v1 said enqueue_many).
  CREATE OR REPLACE keeps the function's owner, grants and comment.

The downgrade loads v1 again.
"""

from collections.abc import Sequence

from alembic import op

from pgqueue.migrate import sql_definition

revision: str = "0018_enqueue_one_v2"
down_revision: str | None = "0017_enqueue_batch"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The files this revision loads, in order, with their sha256 (pgqueue.migrate.sql_digest).
FILES = {
    "functions/enqueue_one.v2.sql": (
        "a6c738dad8fdb451c0eda282d416aa2d86e45c25292deb1862b5212c62ac0588"
    ),
}
# What the downgrade loads again.
PREVIOUS = ["functions/enqueue_one.v1.sql"]


def upgrade() -> None:
    for path in FILES:
        op.execute(sql_definition(path))


def downgrade() -> None:
    for path in PREVIOUS:
        op.execute(sql_definition(path))
