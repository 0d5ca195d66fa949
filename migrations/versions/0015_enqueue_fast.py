"""Enqueue at the speed of a plain INSERT (issue 18 goals 1 and 2, docs/benchmarks.md).

Revision ID: 0015_enqueue_fast
Revises: 0014_workflows
Create Date: 2026-12-01

What changes in the database:
- the trigger jobs_notify_inserted (AFTER INSERT, per statement, with a transition table: a fifth
  of a 1,000-job INSERT and of a one-job enqueue) is dropped. The enqueue functions, the only
  insert path, send its wake-up themselves: one pg_notify on pgqueue_jobs per queue with queued
  rows among those inserted, at commit as before. pgqueue.notify_jobs() itself is unchanged (the
  UPDATE triggers call it). A row INSERTed by hand into pgqueue.jobs wakes nobody: workers find it
  at their next poll (docs/enqueue.md, "How workers are woken").
- enqueue_many v5: v4 with that NOTIFY.
- pgqueue.enqueue_one(...) v1: one job without dependencies in typed parameters, returning (id,
  duplicate): the same row, the same checks and messages, the same wake-up as enqueue_many, at a
  fraction of its cost (the asyncpg path sends every single job without parents through it).
- grant_producer v2 and grant_worker v3: EXECUTE on pgqueue.enqueue_one too; every role that may
  EXECUTE pgqueue.enqueue_many now may EXECUTE pgqueue.enqueue_one (producers granted before).

The downgrade drops enqueue_one, puts back 0014's enqueue_many v4 and 0013/0014's grant helpers,
and creates the INSERT trigger again as 0007 did.
"""

from collections.abc import Sequence

from alembic import op

from pgqueue.migrate import sql_definition

revision: str = "0015_enqueue_fast"
down_revision: str | None = "0014_workflows"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The files this revision loads, in order, with their sha256 (pgqueue.migrate.sql_digest).
FILES = {
    "functions/enqueue_one.v1.sql": (
        "1d760bdd6e88574b99288eb1e677e1cad529e9e1411db55a1d2f334cafcbcd8a"
    ),
    "functions/enqueue_many.v5.sql": (
        "3f7a6cff073083f94b292e709932e5fea4f7839ca94976eee1c36ea7a5ee106f"
    ),
    "functions/grant_producer.v2.sql": (
        "5ff118b2a7fe0b2c59de4b7ba913c1f93258f82194311b84ef6ad88a5b3e4c15"
    ),
    "functions/grant_worker.v3.sql": (
        "e9bd048b2cb2be3ba4fb67e34792d436be653ff2f5020c8dff3ffedcb5c5ec8d"
    ),
}
# What the downgrade loads again.
PREVIOUS = [
    "functions/enqueue_many.v4.sql",
    "functions/grant_producer.v1.sql",
    "functions/grant_worker.v2.sql",
]

ENQUEUE_ONE = (
    "pgqueue.enqueue_one(text, jsonb, jsonb, text, integer, timestamptz, double precision, "
    "integer, text, jsonb, text)"
)

# As 0004 did for enqueue_many: no EXECUTE for PUBLIC, and every role that could enqueue through
# enqueue_many (producers, workers, operators granted before this revision) may use enqueue_one.
GRANTS = f"""
DO $do$
DECLARE
    grantee text;
BEGIN
    REVOKE EXECUTE ON FUNCTION {ENQUEUE_ONE} FROM PUBLIC;
    FOR grantee IN
        SELECT DISTINCT a.grantee::regrole::text
        FROM pg_catalog.pg_proc AS p, pg_catalog.aclexplode(p.proacl) AS a
        WHERE p.oid = 'pgqueue.enqueue_many(jsonb)'::regprocedure
          AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION {ENQUEUE_ONE} TO %s', grantee);
    END LOOP;
END
$do$
"""

COMMENT = f"""
COMMENT ON FUNCTION {ENQUEUE_ONE} IS
    'One job without dependencies, in typed parameters: the row and the wake-up '
    'pgqueue.enqueue_many writes for the same job. Returns (id, duplicate).'
"""

# 0007_notify_triggers' INSERT trigger, for the downgrade.
INSERT_TRIGGER = """
CREATE TRIGGER jobs_notify_inserted
    AFTER INSERT ON pgqueue.jobs
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION pgqueue.notify_jobs()
"""


def upgrade() -> None:
    op.execute("DROP TRIGGER jobs_notify_inserted ON pgqueue.jobs")
    for path in FILES:
        op.execute(sql_definition(path))
    op.execute(GRANTS)
    op.execute(COMMENT)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {ENQUEUE_ONE}")
    for path in PREVIOUS:
        op.execute(sql_definition(path))
    op.execute(INSERT_TRIGGER)
