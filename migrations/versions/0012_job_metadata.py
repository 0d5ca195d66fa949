"""Job metadata: a JSON object per job, jobs.metadata, for integrations to hand their own context
from the enqueuing code to the worker: the W3C trace context (traceparent, tracestate) that
pgqueue.contrib.otel writes (docs/tracing.md), and the rescue's note of a lost attempt
(`pgqueue.lost_attempt`).

Revision ID: 0012_job_metadata
Revises: 0011_dead_letter_functions
Create Date: 2026-12-01

What changes in the database: a column `metadata jsonb NOT NULL DEFAULT '{}'` with a CHECK that
it is a JSON object (a constant default: no table rewrite, an instant under its lock);
pgqueue.enqueue_input v2 returns a job's "metadata" (default {}), and pgqueue.enqueue_many v2
refuses a batch whose "metadata" is not an object and stores it. enqueue_input's result gains a
column, which CREATE OR REPLACE cannot do, so v1 is dropped first (it has no grants or comment of
its own; enqueue_many, its only caller, resolves it when it runs). pgqueue.enqueue v2 takes a
`metadata` parameter (default {}): a new signature, so v1 is dropped and v2 created in one DO
block that carries v1's grants over (who could enqueue still can) and its comment.
pgqueue.grant_producer and grant_worker (0004) named enqueue's full signature; they now name it
by its name alone (PostgreSQL resolves a unique name), so a later change of its parameters need
not redefine them again.
The downgrade loads the v1 files again (enqueue with the same carrying over of grants), puts back
0004's grant functions and drops the column (the metadata of every job with it).
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

from pgqueue.migrate import sql_definition

revision: str = "0012_job_metadata"
down_revision: str | None = "0011_dead_letter_functions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The files this revision loads, in order, with their sha256 (pgqueue.migrate.sql_digest).
FILES = {
    "functions/enqueue_input.v2.sql": (
        "197752a93c9f8d3d40ade2791348171dcdb5b08fa2c8bdd8b6800a5ad1df820f"
    ),
    "functions/enqueue_many.v2.sql": (
        "cac0fb28157f4fe2239e7de135b0a469700be540a1d3c7e1fb7c8e06a3ce2b3e"
    ),
    # Loaded by swap_enqueue (a new signature), not by the loop below.
    "functions/enqueue.v2.sql": "9ab17c3239da77e7ccd418c13c3fe49c15f4f935901dbfccca4c56b16d31c936",
}
ENQUEUE_FILE = "functions/enqueue.v2.sql"
PREVIOUS = ["functions/enqueue_input.v1.sql", "functions/enqueue_many.v1.sql"]

DROP_ENQUEUE_INPUT = "DROP FUNCTION pgqueue.enqueue_input(jsonb)"
V1_SIGNATURE = "pgqueue.enqueue(text, jsonb, jsonb, text, integer, timestamptz, integer, text)"
V2_SIGNATURE = (
    "pgqueue.enqueue(text, jsonb, jsonb, text, integer, timestamptz, integer, text, jsonb)"
)
# How grant_producer and grant_worker name the enqueue functions from here on.
ENQUEUE_BY_NAME = "pgqueue.enqueue_many(jsonb), pgqueue.enqueue"


def _revision_module(filename: str) -> ModuleType:
    """An earlier revision's module, loaded from its file beside this one (as 0008 does)."""
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location(f"pgqueue_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def swap_enqueue(old: str, new: str, definition: str, comment: str) -> str:
    """One DO block: drop `old`, create `new` from `definition`, give `new` the EXECUTE grants
    `old` had (its ACL read before the drop; a NULL ACL is the default, PUBLIC may execute) and
    `comment`. Pure SQL, so `pgqueue migrate --sql` prints it too."""
    assert "$definition$" not in definition and "$do$" not in definition
    return f"""
DO $do$
DECLARE
    old_acl aclitem[];
    entry record;
BEGIN
    SELECT p.proacl INTO old_acl FROM pg_catalog.pg_proc AS p WHERE p.oid = '{old}'::regprocedure;
    DROP FUNCTION {old};
    EXECUTE $definition${definition}$definition$;
    IF old_acl IS NOT NULL THEN
        REVOKE ALL ON FUNCTION {new} FROM PUBLIC;
        FOR entry IN
            SELECT a.grantee, a.is_grantable
            FROM pg_catalog.aclexplode(old_acl) AS a
            WHERE a.privilege_type = 'EXECUTE'
              AND a.grantee <> (SELECT p.proowner FROM pg_catalog.pg_proc AS p
                                WHERE p.oid = '{new}'::regprocedure)
        LOOP
            EXECUTE format(
                'GRANT EXECUTE ON FUNCTION {new} TO %s%s',
                CASE WHEN entry.grantee = 0 THEN 'PUBLIC' ELSE entry.grantee::regrole::text END,
                CASE WHEN entry.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
        END LOOP;
    END IF;
    COMMENT ON FUNCTION {new} IS {comment};
END
$do$
"""


def _enqueue_comment() -> str:
    """0003's comment on pgqueue.enqueue, the literal after IS."""
    operations = _revision_module("0003_operations.py")
    return str(operations.ENQUEUE_COMMENT).split(" IS", 1)[1].strip()


def grant_functions(enqueue_functions: str | None) -> list[str]:
    """0004's grant_producer and grant_worker, as CREATE OR REPLACE (keeping their owner, ACL
    and comment), naming the enqueue functions as `enqueue_functions` (None: 0004's own text)."""
    hardening = _revision_module("0004_hardening.py")
    statements = []
    for statement in hardening.GRANT_FUNCTIONS[:2]:
        text = str(statement).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
        if enqueue_functions is not None:
            text = text.replace(hardening.ENQUEUE_FUNCTIONS, enqueue_functions)
        statements.append(text)
    return statements


def upgrade() -> None:
    op.execute(
        "ALTER TABLE pgqueue.jobs ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}'::jsonb, "
        "ADD CONSTRAINT jobs_metadata_check CHECK (jsonb_typeof(metadata) = 'object')"
    )
    op.execute(DROP_ENQUEUE_INPUT)
    for path in FILES:
        if path != ENQUEUE_FILE:
            op.execute(sql_definition(path))
    comment = _enqueue_comment()
    op.execute(swap_enqueue(V1_SIGNATURE, V2_SIGNATURE, sql_definition(ENQUEUE_FILE), comment))
    for statement in grant_functions(ENQUEUE_BY_NAME):
        op.execute(statement)


def downgrade() -> None:
    for statement in grant_functions(None):
        op.execute(statement)
    v1 = sql_definition("functions/enqueue.v1.sql")
    op.execute(swap_enqueue(V2_SIGNATURE, V1_SIGNATURE, v1, _enqueue_comment()))
    op.execute(DROP_ENQUEUE_INPUT)
    for path in PREVIOUS:
        op.execute(sql_definition(path))
    op.execute("ALTER TABLE pgqueue.jobs DROP COLUMN metadata")
