"""Dead letters from SQL: pgqueue.requeue_dead(...) and pgqueue.purge_dead(...), by id and by
filter, the one path that app.requeue_dead / app.purge_dead, `pgqueue dlq requeue / purge` and
the dashboard all take; pgqueue.grant_operator(role) grants a role what calling them needs.

Revision ID: 0011_dead_letter_functions
Revises: 0010_worker_tasks
Create Date: 2026-12-01

Both functions are SECURITY DEFINER with a fixed search_path (like enqueue_many, 0004), so
EXECUTE on them is the privilege to act on dead letters: it is revoked from PUBLIC, and granted to
every role that could already do the same by hand (UPDATE and DELETE on pgqueue.jobs: the roles
pgqueue.grant_worker was run for), so no role that ran `pgqueue dlq` before loses the right by
upgrading. New roles get it from pgqueue.grant_operator (docs/security.md). The bodies are the
files below, pinned by sha256 (docs/migrations.md, "SQL functions and views").
"""

from collections.abc import Sequence

from alembic import op

from pgqueue.migrate import sql_definition

revision: str = "0011_dead_letter_functions"
down_revision: str | None = "0010_worker_tasks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The files this revision loads, in order, with their sha256 (pgqueue.migrate.sql_digest).
FILES = {
    "functions/requeue_dead.v1.sql": (
        "d57c2cad6aee030532b3ea253b99a4fa33b7d28f80545f0dbf2395d1c12b465b"
    ),
    "functions/purge_dead.v1.sql": "dd735681d516b62ab1d692564325d86a86973f95b7fbc860d31b84025441723e",
    "functions/grant_operator.v1.sql": (
        "276f1aa8248fd5419ab83791bd6ec4fc8dff9c72cb38950b963fe37c3a50d6d1"
    ),
}

SIGNATURE = "(bigint[], text, text, text, timestamptz, timestamptz, integer, boolean)"
FUNCTIONS = f"pgqueue.requeue_dead{SIGNATURE}, pgqueue.purge_dead{SIGNATURE}"

# Who could requeue or purge dead letters by hand keeps that right through the functions.
KEEP_OPERATORS = f"""
DO $do$
DECLARE
    grantee text;
BEGIN
    REVOKE EXECUTE ON FUNCTION {FUNCTIONS} FROM PUBLIC;
    FOR grantee IN
        SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END
        FROM pg_catalog.pg_class AS c, pg_catalog.aclexplode(c.relacl) AS a
        WHERE c.oid = 'pgqueue.jobs'::regclass AND a.privilege_type IN ('UPDATE', 'DELETE')
        GROUP BY a.grantee
        HAVING count(DISTINCT a.privilege_type) = 2
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION {FUNCTIONS} TO %s', grantee);
    END LOOP;
END
$do$
"""


COMMENTS = (
    f"""
COMMENT ON FUNCTION pgqueue.requeue_dead{SIGNATURE} IS
    'Requeues dead letters matching the filters with fresh attempts; returns how many '
    '(docs/operations.md, "Dead letters").'
""",
    f"""
COMMENT ON FUNCTION pgqueue.purge_dead{SIGNATURE} IS
    'Deletes dead letters matching the filters; returns how many (docs/operations.md, '
    '"Dead letters").'
""",
    """
COMMENT ON FUNCTION pgqueue.grant_operator(regrole) IS
    'Grants a role what acting on dead letters needs and nothing else: USAGE on schema '
    'pgqueue, SELECT on pgqueue.dead_letters, EXECUTE on pgqueue.requeue_dead, '
    'pgqueue.purge_dead and pgqueue.cancel (docs/security.md).'
""",
)


def upgrade() -> None:
    for path in FILES:
        op.execute(sql_definition(path))
    op.execute(KEEP_OPERATORS)
    # Like 0004's grant functions: only the owner (the role that ran the migrations) runs it.
    op.execute("REVOKE EXECUTE ON FUNCTION pgqueue.grant_operator(regrole) FROM PUBLIC")
    for statement in COMMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP FUNCTION pgqueue.grant_operator(regrole)")
    op.execute(f"DROP FUNCTION pgqueue.purge_dead{SIGNATURE}")
    op.execute(f"DROP FUNCTION pgqueue.requeue_dead{SIGNATURE}")
