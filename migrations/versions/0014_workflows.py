"""Workflows: jobs that wait on other jobs (issue 12, docs/workflows.md).

Revision ID: 0014_workflows
Revises: 0013_limits
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
- enqueue_input v4, enqueue_many v4 (0013's v3 with depends_on, depends_on_batch,
  on_parent_failure), enqueue v4 (two more parameters: a new signature, swapped with 0012's
  swap_enqueue, which carries the old one's EXECUTE grants and comment over), cancel v2 (a
  waiting job is cancelled at once), queue_stats v2 (a `waiting` column), grant_worker v2 (0013's
  v1 and SELECT on pgqueue.job_dependencies). grant_producer needs no new version: it names
  pgqueue.enqueue by its name alone (0012), and a producer needs nothing else.
- every role that may read pgqueue.jobs may read pgqueue.job_dependencies (parent results).

The downgrade refuses nothing: waiting jobs become queued (their dependencies are forgotten),
then every object goes back to 0013's definitions.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

from pgqueue.migrate import sql_definition

revision: str = "0014_workflows"
down_revision: str | None = "0013_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The files this revision loads, in order, with their sha256 (pgqueue.migrate.sql_digest).
FILES = {
    "functions/resolve_waiting.v1.sql": (
        "ac0807c9f9bf248a4d03fa73c9952a9f96f9dcbfa7d06568ec3e624a231df6db"
    ),
    "functions/resolve_dependencies.v1.sql": (
        "5c5d7a4d5afa456aab411e63c4d2a6eb2281b480078635041406f9e83793ec19"
    ),
    "functions/enqueue_input.v4.sql": (
        "40558c66f6bf6fb5780c4dcd16e63b496b25d96d030407dabfce470bda399524"
    ),
    "functions/enqueue_many.v4.sql": (
        "5a2bade95984ed41ddda2beea8f4c039f889e6ffa8fcc80eb6075c407bf258ce"
    ),
    # Loaded by swap_enqueue (a new signature), not by the loop in upgrade().
    "functions/enqueue.v4.sql": "f1753e99603775b3d3edfee603bea696dd73047395630dc5e5e70548aee9ef68",
    "functions/cancel.v2.sql": "7e5996b145e6ee82630814f1815ee7a4a984fefb6f58019c263cbacf1bf63501",
    "functions/grant_worker.v2.sql": (
        "ba82ffdf31e4703fe6054080c2874aa9ad267bb903c12b01a7828e93ffd1065c"
    ),
    "views/queue_stats.v2.sql": "bc6eee92e9b98bb7f6aafaad458c296cb3eef93526b526921956de6e9234c7e5",
}
ENQUEUE_FILE = "functions/enqueue.v4.sql"
# What the downgrade loads again: 0013's (and 0008's, for cancel and queue_stats) versions.
PREVIOUS = [
    "functions/enqueue_input.v3.sql",
    "functions/enqueue_many.v3.sql",
    "functions/cancel.v1.sql",
    "functions/grant_worker.v1.sql",
]
PREVIOUS_ENQUEUE = "functions/enqueue.v3.sql"

STATES = "'scheduled', 'queued', 'running', 'retrying', 'succeeded', 'dead', 'cancelled'"
OLD_ENQUEUE = (
    "pgqueue.enqueue(text, jsonb, jsonb, text, integer, timestamptz, integer, text, jsonb, text)"
)
NEW_ENQUEUE = (
    "pgqueue.enqueue(text, jsonb, jsonb, text, integer, timestamptz, integer, text, jsonb, text, "
    "bigint[], text)"
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


def _revision_module(filename: str) -> ModuleType:
    """An earlier revision's module, loaded from its file beside this one (as 0012 does)."""
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location(f"pgqueue_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _swap_enqueue(old: str, new: str, new_file: str) -> None:
    """Replace pgqueue.enqueue `old` by the definition in `new_file` (signature `new`) with 0012's
    swap_enqueue: the grants `old` had and 0003's comment carried over."""
    metadata = _revision_module("0012_job_metadata.py")
    comment = metadata._enqueue_comment()
    op.execute(metadata.swap_enqueue(old, new, sql_definition(new_file), comment))


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
        if path == ENQUEUE_FILE:
            _swap_enqueue(OLD_ENQUEUE, NEW_ENQUEUE, path)
        else:
            op.execute(sql_definition(path))
    op.execute("REVOKE EXECUTE ON FUNCTION pgqueue.resolve_waiting(bigint[], bigint[]) FROM PUBLIC")
    op.execute(TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER jobs_resolve_dependencies ON pgqueue.jobs")
    op.execute("DROP FUNCTION pgqueue.resolve_dependencies()")
    op.execute("UPDATE pgqueue.jobs SET state = 'queued' WHERE state = 'waiting'")
    _swap_enqueue(NEW_ENQUEUE, OLD_ENQUEUE, PREVIOUS_ENQUEUE)
    op.execute("DROP FUNCTION pgqueue.enqueue_input(jsonb)")
    for path in PREVIOUS:
        op.execute(sql_definition(path))
    op.execute(VIEW_SAVED)
    op.execute("DROP VIEW pgqueue.queue_stats")
    op.execute(sql_definition("views/queue_stats.v1.sql"))
    op.execute(VIEW_RESTORED)
    op.execute("DROP FUNCTION pgqueue.resolve_waiting(bigint[], bigint[])")
    op.execute("DROP INDEX pgqueue.jobs_waiting_idx")
    op.execute("DROP TABLE pgqueue.job_dependencies")
    _swap_state_check(STATES)
