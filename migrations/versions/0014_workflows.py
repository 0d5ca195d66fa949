"""Workflows: jobs that wait on other jobs (issue 12, docs/workflows.md).

Revision ID: 0014_workflows
Revises: 0008_sql_files
Create Date: 2026-12-01

What changes in the database:
- a state, `waiting` (jobs_state_check swapped): a job with parents waits in it, outside the
  claim index (jobs_claim_idx is partial on state = 'queued'); jobs_waiting_idx counts them per
  queue for queue_stats.
- pgqueue.job_dependencies (child_id, ord, parent_id, needs_success): one row per parent, in the
  order given; both ends cascade on delete (retention keeps a parent whose child has not
  finished, job_prune.sql).
- pgqueue.resolve_waiting(bigint[], bigint[]) and the statement-level trigger
  jobs_resolve_dependencies (pgqueue.resolve_dependencies()): children are resolved where their
  parents finish.
- enqueue_input v2, enqueue_many v2 (depends_on, depends_on_batch, on_parent_failure),
  enqueue v2 (two more parameters: a new signature, so the old one is dropped and its EXECUTE
  grants are carried over), cancel v2 (a waiting job is cancelled at once), queue_stats v2
  (a `waiting` column), grant_producer and grant_worker as files naming the new signature.
- every role that may read pgqueue.jobs may read pgqueue.job_dependencies (parent results).

The downgrade refuses nothing: waiting jobs become queued (their dependencies are forgotten),
then every object goes back to 0008's definitions.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

from pgqueue.migrate import sql_definition

revision: str = "0014_workflows"
down_revision: str | None = "0008_sql_files"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILES = {
    "functions/resolve_waiting.v1.sql": (
        "ac0807c9f9bf248a4d03fa73c9952a9f96f9dcbfa7d06568ec3e624a231df6db"
    ),
    "functions/resolve_dependencies.v1.sql": (
        "5c5d7a4d5afa456aab411e63c4d2a6eb2281b480078635041406f9e83793ec19"
    ),
    "functions/enqueue_input.v2.sql": (
        "dcf4c5347043b1798b77ba795e8645623cd28c5c31475935e21805d3d8bd8905"
    ),
    "functions/enqueue_many.v2.sql": (
        "bc3d352853e5740abb192c97122fd00ccd2f0d73817a3ebced8fb4af2cd366cf"
    ),
    "functions/enqueue.v2.sql": "ce6b82c546d07aa61f709011c9f18ee20187d772316ccd83f224228486710a93",
    "functions/cancel.v2.sql": "7e5996b145e6ee82630814f1815ee7a4a984fefb6f58019c263cbacf1bf63501",
    "functions/grant_producer.v1.sql": (
        "7430b65863cc8aaab9d571407cce187bbf958634d3baf3c24f77e30981bffe08"
    ),
    "functions/grant_worker.v1.sql": (
        "0c1a1113d88ee52e7fbfb3a29040c2157db7c5d5eb910957f22f30d12f097656"
    ),
    "views/queue_stats.v2.sql": "bc6eee92e9b98bb7f6aafaad458c296cb3eef93526b526921956de6e9234c7e5",
}

STATES = "'scheduled', 'queued', 'running', 'retrying', 'succeeded', 'dead', 'cancelled'"
OLD_ENQUEUE = "pgqueue.enqueue(text, jsonb, jsonb, text, integer, timestamptz, integer, text)"
NEW_ENQUEUE = (
    "pgqueue.enqueue(text, jsonb, jsonb, text, integer, timestamptz, integer, text, bigint[], text)"
)

TABLE = """
CREATE TABLE pgqueue.job_dependencies (
    child_id bigint NOT NULL REFERENCES pgqueue.jobs (id) ON DELETE CASCADE,
    ord integer NOT NULL,
    parent_id bigint NOT NULL REFERENCES pgqueue.jobs (id) ON DELETE CASCADE,
    needs_success boolean NOT NULL DEFAULT true,
    CONSTRAINT job_dependencies_pkey PRIMARY KEY (child_id, ord)
)
"""

TRIGGER = """
CREATE TRIGGER jobs_resolve_dependencies
    AFTER UPDATE ON pgqueue.jobs
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION pgqueue.resolve_dependencies()
"""


def _grants_carried_over(source: str, target: str) -> str:
    """GRANT EXECUTE on `target` to every role that holds it on `source` (a NULL acl is the
    default, PUBLIC, which the new function has too), and `source`'s comment."""
    return f"""
DO $do$
DECLARE
    acl aclitem[] := (SELECT p.proacl FROM pg_catalog.pg_proc AS p
                      WHERE p.oid = '{source}'::regprocedure);
    note text := pg_catalog.obj_description('{source}'::regprocedure, 'pg_proc');
    grantee text;
BEGIN
    IF note IS NOT NULL THEN
        EXECUTE format('COMMENT ON FUNCTION {target} IS %L', note);
    END IF;
    IF acl IS NULL THEN
        RETURN;
    END IF;
    REVOKE EXECUTE ON FUNCTION {target} FROM PUBLIC;
    FOR grantee IN
        SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END
        FROM pg_catalog.aclexplode(acl) AS a
        WHERE a.privilege_type = 'EXECUTE'
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION {target} TO %s', grantee);
    END LOOP;
END
$do$
"""


# Whoever may read the jobs may read their dependencies (a worker's parent_results()).
READERS = """
DO $do$
DECLARE
    grantee text;
BEGIN
    FOR grantee IN
        SELECT DISTINCT a.grantee::regrole::text
        FROM pg_catalog.pg_class AS c, pg_catalog.aclexplode(c.relacl) AS a
        WHERE c.oid = 'pgqueue.jobs'::regclass AND a.privilege_type = 'SELECT'
          AND a.grantee <> 0 AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('GRANT SELECT ON pgqueue.job_dependencies TO %s', grantee);
    END LOOP;
END
$do$
"""


# queue_stats v1 has fewer columns than v2, which CREATE OR REPLACE VIEW cannot drop: the view is
# dropped and created again, with its comment and its grants carried over.
VIEW_SAVED = """
CREATE TEMP TABLE pgqueue_0014_view ON COMMIT DROP AS
SELECT c.relacl AS acl, pg_catalog.obj_description(c.oid, 'pg_class') AS comment
FROM pg_catalog.pg_class AS c
WHERE c.oid = 'pgqueue.queue_stats'::regclass
"""

VIEW_RESTORED = """
DO $do$
DECLARE
    saved record;
    grant_row record;
BEGIN
    SELECT * INTO saved FROM pgqueue_0014_view;
    IF saved.comment IS NOT NULL THEN
        EXECUTE format('COMMENT ON VIEW pgqueue.queue_stats IS %L', saved.comment);
    END IF;
    FOR grant_row IN
        SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END AS grantee,
               a.privilege_type
        FROM pg_catalog.aclexplode(saved.acl) AS a
        WHERE a.grantee <> a.grantor
    LOOP
        EXECUTE format('GRANT %s ON pgqueue.queue_stats TO %s',
                       grant_row.privilege_type, grant_row.grantee);
    END LOOP;
END
$do$
"""


def _swap_state_check(states: str) -> None:
    op.execute("ALTER TABLE pgqueue.jobs DROP CONSTRAINT jobs_state_check")
    op.execute(
        f"ALTER TABLE pgqueue.jobs ADD CONSTRAINT jobs_state_check CHECK (state IN ({states}))"
    )


def upgrade() -> None:
    _swap_state_check(f"{STATES}, 'waiting'")
    op.execute(TABLE)
    op.execute("CREATE INDEX job_dependencies_parent_idx ON pgqueue.job_dependencies (parent_id)")
    op.execute("CREATE INDEX jobs_waiting_idx ON pgqueue.jobs (queue) WHERE state = 'waiting'")
    op.execute(READERS)
    # enqueue_input's result gains columns: CREATE OR REPLACE cannot change it.
    op.execute("DROP FUNCTION pgqueue.enqueue_input(jsonb)")
    for path in FILES:
        op.execute(sql_definition(path))
    op.execute("REVOKE EXECUTE ON FUNCTION pgqueue.resolve_waiting(bigint[], bigint[]) FROM PUBLIC")
    op.execute(_grants_carried_over(OLD_ENQUEUE, NEW_ENQUEUE))
    op.execute(f"DROP FUNCTION {OLD_ENQUEUE}")
    op.execute(TRIGGER)


def _revision_module(filename: str) -> ModuleType:
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location(f"pgqueue_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def downgrade() -> None:
    op.execute("DROP TRIGGER jobs_resolve_dependencies ON pgqueue.jobs")
    op.execute("DROP FUNCTION pgqueue.resolve_dependencies()")
    op.execute("UPDATE pgqueue.jobs SET state = 'queued' WHERE state = 'waiting'")
    op.execute(sql_definition("functions/enqueue.v1.sql"))
    op.execute(_grants_carried_over(NEW_ENQUEUE, OLD_ENQUEUE))
    op.execute(f"DROP FUNCTION {NEW_ENQUEUE}")
    op.execute("DROP FUNCTION pgqueue.enqueue_input(jsonb)")
    for path in (
        "functions/enqueue_input.v1.sql",
        "functions/enqueue_many.v1.sql",
        "functions/cancel.v1.sql",
    ):
        op.execute(sql_definition(path))
    op.execute(VIEW_SAVED)
    op.execute("DROP VIEW pgqueue.queue_stats")
    op.execute(sql_definition("views/queue_stats.v1.sql"))
    op.execute(VIEW_RESTORED)
    hardening = _revision_module("0004_hardening.py")
    for statement in hardening.GRANT_FUNCTIONS[:2]:
        op.execute(statement.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    op.execute("DROP FUNCTION pgqueue.resolve_waiting(bigint[], bigint[])")
    op.execute("DROP INDEX pgqueue.jobs_waiting_idx")
    op.execute("DROP TABLE pgqueue.job_dependencies")
    _swap_state_check(STATES)
