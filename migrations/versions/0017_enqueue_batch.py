"""Batches at the speed of a binary COPY (issue 18 goal 2, issue 9): pgqueue.enqueue_batch.

Revision ID: 0017_enqueue_batch
Revises: 0016_finish_hooks
Create Date: 2026-12-02

What changes in the database:
- pgqueue.enqueue_batch(task text[], args jsonb[], kwargs jsonb[], queue text[], priority
  integer[], run_at timestamptz[], delay double precision[], max_attempts integer[], metadata
  jsonb[], limit_key text[]) v1: a batch of jobs without unique keys and without dependencies,
  one typed array per column, returning (ord, id, duplicate) as enqueue_many does. The same rows,
  checks, messages and wake-up as pgqueue.enqueue_many for the same jobs; valid batches pay only
  the table's constraints, and a batch a constraint refuses is handed to enqueue_many, whose
  checks name the first bad job (docs/enqueue.md, "How a batch is written"). The asyncpg path of
  app.enqueue_many sends such batches there; batches with unique keys or parents, and the
  SQLAlchemy and Django paths, stay on enqueue_many.
- grant_producer v3 and grant_worker v4: EXECUTE on pgqueue.enqueue_batch too; every role that
  may EXECUTE pgqueue.enqueue_many now may EXECUTE pgqueue.enqueue_batch (roles granted before).

The downgrade drops enqueue_batch and puts back 0015's grant helpers; an app on the older schema
sends its batches to enqueue_many (it finds out at its first batch).
"""

from collections.abc import Sequence

from alembic import op

from pgqueue.migrate import sql_definition

revision: str = "0017_enqueue_batch"
down_revision: str | None = "0016_finish_hooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The files this revision loads, in order, with their sha256 (pgqueue.migrate.sql_digest).
FILES = {
    "functions/enqueue_batch.v1.sql": (
        "77a38267165bb60d85b08fa03e3aa0cc3181f7256bdbd1b3b836f3d7d3701259"
    ),
    "functions/grant_producer.v3.sql": (
        "e13ca4af643924dfd3932c4b31230eb9dab90adfaede2fdc4ca8908376216eff"
    ),
    "functions/grant_worker.v4.sql": (
        "a786bf1b45c27e67141d0255c7427cd6f99c65183a459c1d8f730cfa51c92068"
    ),
}
# What the downgrade loads again.
PREVIOUS = [
    "functions/grant_producer.v2.sql",
    "functions/grant_worker.v3.sql",
]

ENQUEUE_BATCH = (
    "pgqueue.enqueue_batch(text[], jsonb[], jsonb[], text[], integer[], timestamptz[], "
    "double precision[], integer[], jsonb[], text[])"
)

# As 0015 did for enqueue_one: no EXECUTE for PUBLIC, and every role that could enqueue through
# enqueue_many (producers, workers, operators granted before this revision) may use enqueue_batch.
GRANTS = f"""
DO $do$
DECLARE
    grantee text;
BEGIN
    REVOKE EXECUTE ON FUNCTION {ENQUEUE_BATCH} FROM PUBLIC;
    FOR grantee IN
        SELECT DISTINCT a.grantee::regrole::text
        FROM pg_catalog.pg_proc AS p, pg_catalog.aclexplode(p.proacl) AS a
        WHERE p.oid = 'pgqueue.enqueue_many(jsonb)'::regprocedure
          AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION {ENQUEUE_BATCH} TO %s', grantee);
    END LOOP;
END
$do$
"""

COMMENT = f"""
COMMENT ON FUNCTION {ENQUEUE_BATCH} IS
    'A batch without unique keys or dependencies, one array per column: the rows and the '
    'wake-up pgqueue.enqueue_many writes for the same jobs. Returns (ord, id, duplicate).'
"""


def upgrade() -> None:
    for path in FILES:
        op.execute(sql_definition(path))
    op.execute(GRANTS)
    op.execute(COMMENT)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {ENQUEUE_BATCH}")
    for path in PREVIOUS:
        op.execute(sql_definition(path))
