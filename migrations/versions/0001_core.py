"""Core schema: the jobs table, its claim indexes, the enqueue functions and the wake-up trigger.

Revision ID: 0001_core
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_core"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = "'scheduled', 'queued', 'running', 'retrying', 'succeeded', 'dead', 'cancelled'"

# One place holds the insert logic: enqueue_many. pgqueue.enqueue and every Python path
# (asyncpg, SQLAlchemy sync and async) go through it, so they all write the same row.
ENQUEUE_MANY = r"""
CREATE FUNCTION pgqueue.enqueue_many(jobs jsonb)
RETURNS TABLE (ord bigint, id bigint, duplicate boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    problem text;
BEGIN
    IF jobs IS NULL OR jsonb_typeof(jobs) <> 'array' THEN
        RAISE EXCEPTION 'pgqueue.enqueue_many: jobs must be a JSON array of job objects'
            USING ERRCODE = '22023';
    END IF;

    -- Reject the whole batch, naming the first bad job, before anything is written.
    SELECT format('pgqueue.enqueue: job #%s %s', v.n, v.problem) INTO problem
    FROM (
        SELECT e.n, CASE
            WHEN jsonb_typeof(e.job) <> 'object' THEN 'must be a JSON object'
            WHEN jsonb_typeof(e.job -> 'task') IS DISTINCT FROM 'string' OR e.job ->> 'task' = ''
                THEN 'needs a non-empty "task" name'
            WHEN jsonb_typeof(e.job -> 'args') NOT IN ('array', 'null')
                THEN 'has "args" that is not a JSON array'
            WHEN jsonb_typeof(e.job -> 'kwargs') NOT IN ('object', 'null')
                THEN 'has "kwargs" that is not a JSON object'
            WHEN jsonb_typeof(e.job -> 'queue') NOT IN ('string', 'null') OR e.job ->> 'queue' = ''
                THEN 'has an empty or non-text "queue"'
            WHEN jsonb_typeof(e.job -> 'priority') NOT IN ('number', 'null')
                THEN 'has a non-numeric "priority"'
            WHEN jsonb_typeof(e.job -> 'max_attempts') NOT IN ('number', 'null')
                OR (e.job ->> 'max_attempts')::numeric < 1
                THEN 'has "max_attempts" below 1'
        END AS problem
        FROM jsonb_array_elements(jobs) WITH ORDINALITY AS e(job, n)
    ) AS v
    WHERE v.problem IS NOT NULL
    ORDER BY v.n
    LIMIT 1;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION '%', problem USING ERRCODE = '22023';
    END IF;

    RETURN QUERY
    WITH input AS (
        SELECT e.n,
               x.task,
               coalesce(nullif(x.args, 'null'::jsonb), '[]'::jsonb) AS args,
               coalesce(nullif(x.kwargs, 'null'::jsonb), '{}'::jsonb) AS kwargs,
               coalesce(x.queue, 'default') AS queue,
               coalesce(x.priority, 0) AS priority,
               coalesce(x.run_at, now() + make_interval(secs => coalesce(x.delay, 0))) AS run_at,
               x.max_attempts
        FROM jsonb_array_elements(jobs) WITH ORDINALITY AS e(job, n)
        CROSS JOIN LATERAL jsonb_to_record(e.job) AS x(
            task text, args jsonb, kwargs jsonb, queue text, priority int,
            run_at timestamptz, delay double precision, max_attempts int
        )
    ),
    inserted AS (
        INSERT INTO pgqueue.jobs AS j (task, args, kwargs, queue, priority, state, run_at, max_attempts)
        SELECT i.task, i.args, i.kwargs, i.queue, i.priority,
               CASE WHEN i.run_at > now() THEN 'scheduled' ELSE 'queued' END,
               i.run_at, i.max_attempts
        FROM input AS i
        ORDER BY i.n
        RETURNING j.id
    )
    -- Identity values are drawn in insertion order, so id order is input order.
    SELECT row_number() OVER (ORDER BY ins.id), ins.id, false FROM inserted AS ins;
END
$$
"""

ENQUEUE = r"""
CREATE FUNCTION pgqueue.enqueue(
    task text,
    args jsonb DEFAULT '[]',
    kwargs jsonb DEFAULT '{}',
    queue text DEFAULT 'default',
    priority integer DEFAULT 0,
    run_at timestamptz DEFAULT now(),
    max_attempts integer DEFAULT NULL
) RETURNS bigint
LANGUAGE sql AS $$
    SELECT m.id
    FROM pgqueue.enqueue_many(jsonb_build_array(jsonb_build_object(
        'task', task, 'args', args, 'kwargs', kwargs, 'queue', queue,
        'priority', priority, 'run_at', run_at, 'max_attempts', max_attempts
    ))) AS m
$$
"""

ENQUEUE_COMMENT = """
COMMENT ON FUNCTION pgqueue.enqueue(text, jsonb, jsonb, text, integer, timestamptz, integer) IS
    'Enqueue one job; returns its id. Visible to workers when the calling transaction commits.'
"""

# A statement-level trigger wakes workers for every way a row can arrive (the functions, a plain
# INSERT, COPY): one NOTIFY per queue per statement, and Postgres folds identical notifications
# of one transaction into one. The payload is only the queue name: a hint, never the job.
NOTIFY_FUNCTION = r"""
CREATE FUNCTION pgqueue.notify_jobs_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pgqueue_jobs', q.queue)
    FROM (SELECT DISTINCT i.queue FROM inserted AS i WHERE i.state = 'queued') AS q;
    RETURN NULL;
END
$$
"""

NOTIFY_TRIGGER = r"""
CREATE TRIGGER jobs_notify_inserted
    AFTER INSERT ON pgqueue.jobs
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION pgqueue.notify_jobs_inserted();
"""


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS pgqueue")
    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("task", sa.Text(), nullable=False),
        sa.Column("queue", sa.Text(), nullable=False, server_default=sa.text("'default'")),
        sa.Column(
            "args", postgresql.JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")
        ),
        sa.Column(
            "kwargs", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
        sa.Column("priority", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("state", sa.Text(), nullable=False, server_default=sa.text("'queued'")),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("max_attempts", sa.Integer(), nullable=True),
        sa.Column(
            "run_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")
        ),
        sa.Column(
            "enqueued_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker_id", postgresql.UUID(as_uuid=False), nullable=True),
        sa.Column("result", postgresql.JSONB(), nullable=True),
        sa.Column(
            "errors", postgresql.JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")
        ),
        sa.CheckConstraint(f"state IN ({STATES})", name=op.f("jobs_state_check")),
        sa.CheckConstraint("attempts >= 0", name=op.f("jobs_attempts_check")),
        sa.CheckConstraint(
            "max_attempts IS NULL OR max_attempts >= 1", name=op.f("jobs_max_attempts_check")
        ),
        sa.CheckConstraint(
            "state <> 'running' OR worker_id IS NOT NULL",
            name=op.f("jobs_running_has_worker_check"),
        ),
        sa.PrimaryKeyConstraint("id", name="jobs_pkey"),
        schema="pgqueue",
    )
    op.create_index(
        "jobs_claim_idx",
        "jobs",
        ["queue", sa.text("priority DESC"), "run_at", "id"],
        schema="pgqueue",
        postgresql_where=sa.text("state = 'queued'"),
    )
    op.create_index(
        "jobs_due_idx",
        "jobs",
        ["run_at"],
        schema="pgqueue",
        postgresql_where=sa.text("state IN ('scheduled', 'retrying')"),
    )
    op.create_index(
        "jobs_running_idx",
        "jobs",
        ["worker_id"],
        schema="pgqueue",
        postgresql_where=sa.text("state = 'running'"),
    )
    for statement in (ENQUEUE_MANY, ENQUEUE, ENQUEUE_COMMENT, NOTIFY_FUNCTION, NOTIFY_TRIGGER):
        op.execute(statement)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION pgqueue.enqueue(text, jsonb, jsonb, text, integer, timestamptz, integer)"
    )
    op.execute("DROP FUNCTION pgqueue.enqueue_many(jsonb)")
    op.drop_table("jobs", schema="pgqueue")
    op.execute("DROP FUNCTION pgqueue.notify_jobs_inserted()")
