"""Operations: unique jobs, progress, retention index, maintenance lease, periodic schedules,
monitoring views, autovacuum settings for the jobs table.

Revision ID: 0003_operations
Revises: 0002_workers
Create Date: 2026-11-23

Merge note: this revision must not depend on pgqueue.workers (added by 0002). The one view that
reads it (pgqueue.worker_stats, using 0002's columns including heartbeat_ttl) is in WORKER_VIEWS
below and is created only when the table exists, so the revision works both before and after it
is re-chained onto 0002_workers.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_operations"
down_revision: str | None = "0002_workers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = "'scheduled', 'queued', 'running', 'retrying'"
FINISHED = "'succeeded', 'dead', 'cancelled'"
# The predicate of jobs_unique_key_idx; ON CONFLICT must name it word for word to infer the index.
UNIQUE_PREDICATE = f"unique_key IS NOT NULL AND state IN ({ACTIVE})"

# Parsing of one enqueue_many batch, shared by its plain and its unique-key paths. A single
# SELECT in a STABLE SQL function, so the planner inlines it: no cost over 0001's inline CTE.
ENQUEUE_INPUT = r"""
CREATE FUNCTION pgqueue.enqueue_input(jobs jsonb)
RETURNS TABLE (
    n bigint, task text, args jsonb, kwargs jsonb, queue text, priority integer,
    run_at timestamptz, max_attempts integer, unique_key text
)
LANGUAGE sql STABLE AS $$
    SELECT e.n,
           x.task,
           coalesce(nullif(x.args, 'null'::jsonb), '[]'::jsonb),
           coalesce(nullif(x.kwargs, 'null'::jsonb), '{}'::jsonb),
           coalesce(x.queue, 'default'),
           coalesce(x.priority, 0),
           coalesce(x.run_at, now() + make_interval(secs => coalesce(x.delay, 0))),
           x.max_attempts,
           x.unique_key
    FROM jsonb_array_elements(jobs) WITH ORDINALITY AS e(job, n)
    CROSS JOIN LATERAL jsonb_to_record(e.job) AS x(
        task text, args jsonb, kwargs jsonb, queue text, priority int,
        run_at timestamptz, delay double precision, max_attempts int, unique_key text
    )
$$
"""

# Same signature and result as 0001's: a batch without unique keys takes the very same insert.
# With keys: at most one queued-or-running job per key, enforced by the partial unique index and
# ON CONFLICT DO NOTHING (never advisory locks). A duplicate gets the holder's id and
# duplicate = true; within one batch, a key's later jobs are duplicates of its first.
ENQUEUE_MANY = rf"""
CREATE OR REPLACE FUNCTION pgqueue.enqueue_many(jobs jsonb)
RETURNS TABLE (ord bigint, id bigint, duplicate boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    problem text;
    pending bigint[];
    new_n bigint[];
    new_id bigint[];
    found_n bigint[] := '{{}}';
    found_id bigint[] := '{{}}';
    got_n bigint[];
    got_id bigint[];
    rounds integer := 0;
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
            WHEN jsonb_typeof(e.job -> 'unique_key') NOT IN ('string', 'null')
                OR e.job ->> 'unique_key' = ''
                THEN 'has an empty or non-text "unique_key"'
        END AS problem
        FROM jsonb_array_elements(jobs) WITH ORDINALITY AS e(job, n)
    ) AS v
    WHERE v.problem IS NOT NULL
    ORDER BY v.n
    LIMIT 1;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION '%', problem USING ERRCODE = '22023';
    END IF;

    IF NOT EXISTS (
        SELECT 1 FROM jsonb_array_elements(jobs) AS e(job)
        WHERE jsonb_typeof(e.job -> 'unique_key') = 'string'
    ) THEN
        RETURN QUERY
        WITH inserted AS (
            INSERT INTO pgqueue.jobs AS j
                (task, args, kwargs, queue, priority, state, run_at, max_attempts)
            SELECT i.task, i.args, i.kwargs, i.queue, i.priority,
                   CASE WHEN i.run_at > now() THEN 'scheduled' ELSE 'queued' END,
                   i.run_at, i.max_attempts
            FROM pgqueue.enqueue_input(jobs) AS i
            ORDER BY i.n
            RETURNING j.id
        )
        -- Identity values are drawn in insertion order, so id order is input order.
        SELECT row_number() OVER (ORDER BY ins.id), ins.id, false FROM inserted AS ins;
        RETURN;
    END IF;

    -- The first job of each key in the batch is the one that may be inserted.
    SELECT coalesce(array_agg(l.n), '{{}}') INTO pending
    FROM (
        SELECT DISTINCT ON (i.unique_key) i.n
        FROM pgqueue.enqueue_input(jobs) AS i
        WHERE i.unique_key IS NOT NULL
        ORDER BY i.unique_key, i.n
    ) AS l;

    WITH batch AS (
        SELECT i.* FROM pgqueue.enqueue_input(jobs) AS i
        WHERE i.unique_key IS NULL OR i.n = ANY (pending)
    ),
    inserted AS (
        INSERT INTO pgqueue.jobs AS j
            (task, args, kwargs, queue, priority, state, run_at, max_attempts, unique_key)
        SELECT b.task, b.args, b.kwargs, b.queue, b.priority,
               CASE WHEN b.run_at > now() THEN 'scheduled' ELSE 'queued' END,
               b.run_at, b.max_attempts, b.unique_key
        FROM batch AS b
        -- Keys in one global order, so two batches sharing keys never wait on each other in a
        -- cycle; jobs without a key keep their input order (their ids map back by it).
        ORDER BY b.unique_key COLLATE "C" NULLS LAST, b.n
        ON CONFLICT (unique_key) WHERE {UNIQUE_PREDICATE} DO NOTHING
        RETURNING j.id, j.unique_key
    ),
    matched AS (
        SELECT b.n, ins.id FROM inserted AS ins JOIN batch AS b ON b.unique_key = ins.unique_key
        UNION ALL
        SELECT u.n, k.id
        FROM (
            SELECT ins.id, row_number() OVER (ORDER BY ins.id) AS rn
            FROM inserted AS ins WHERE ins.unique_key IS NULL
        ) AS k
        JOIN (
            SELECT b.n, row_number() OVER (ORDER BY b.n) AS rn
            FROM batch AS b WHERE b.unique_key IS NULL
        ) AS u ON u.rn = k.rn
    )
    SELECT coalesce(array_agg(m.n), '{{}}'), coalesce(array_agg(m.id), '{{}}')
    INTO new_n, new_id
    FROM matched AS m;

    pending := ARRAY(SELECT p FROM unnest(pending) AS p WHERE p <> ALL (new_n));
    WHILE cardinality(pending) > 0 LOOP
        rounds := rounds + 1;
        -- A new statement takes a new snapshot: it sees the job we conflicted with, committed
        -- by then (the INSERT waited for its transaction).
        SELECT coalesce(array_agg(i.n), '{{}}'), coalesce(array_agg(a.id), '{{}}')
        INTO got_n, got_id
        FROM pgqueue.enqueue_input(jobs) AS i
        JOIN pgqueue.jobs AS a ON a.unique_key = i.unique_key AND a.state IN ({ACTIVE})
        WHERE i.n = ANY (pending);
        found_n := found_n || got_n;
        found_id := found_id || got_id;
        pending := ARRAY(SELECT p FROM unnest(pending) AS p WHERE p <> ALL (got_n));
        EXIT WHEN cardinality(pending) = 0;
        IF rounds >= 50 THEN
            RAISE EXCEPTION 'pgqueue.enqueue_many: unique keys kept changing hands; retry'
                USING ERRCODE = '40001';
        END IF;
        -- The job holding the key finished in between: the key is free again.
        WITH batch AS (
            SELECT i.* FROM pgqueue.enqueue_input(jobs) AS i WHERE i.n = ANY (pending)
        ),
        inserted AS (
            INSERT INTO pgqueue.jobs AS j
                (task, args, kwargs, queue, priority, state, run_at, max_attempts, unique_key)
            SELECT b.task, b.args, b.kwargs, b.queue, b.priority,
                   CASE WHEN b.run_at > now() THEN 'scheduled' ELSE 'queued' END,
                   b.run_at, b.max_attempts, b.unique_key
            FROM batch AS b
            ORDER BY b.unique_key COLLATE "C"
            ON CONFLICT (unique_key) WHERE {UNIQUE_PREDICATE} DO NOTHING
            RETURNING j.id, j.unique_key
        )
        SELECT coalesce(array_agg(b.n), '{{}}'), coalesce(array_agg(ins.id), '{{}}')
        INTO got_n, got_id
        FROM inserted AS ins JOIN batch AS b ON b.unique_key = ins.unique_key;
        new_n := new_n || got_n;
        new_id := new_id || got_id;
        pending := ARRAY(SELECT p FROM unnest(pending) AS p WHERE p <> ALL (got_n));
    END LOOP;

    RETURN QUERY
    WITH resolved AS (
        SELECT r.n, r.id, false AS dup FROM unnest(new_n, new_id) AS r(n, id)
        UNION ALL
        SELECT r.n, r.id, true AS dup FROM unnest(found_n, found_id) AS r(n, id)
    ),
    input AS (
        SELECT i.n, i.unique_key FROM pgqueue.enqueue_input(jobs) AS i
    ),
    leader AS (
        SELECT DISTINCT ON (i.unique_key) i.unique_key, i.n
        FROM input AS i
        WHERE i.unique_key IS NOT NULL
        ORDER BY i.unique_key, i.n
    )
    SELECT i.n, coalesce(own.id, held.id), coalesce(own.dup, true)
    FROM input AS i
    LEFT JOIN resolved AS own ON own.n = i.n
    LEFT JOIN leader AS l ON l.unique_key = i.unique_key
    LEFT JOIN resolved AS held ON held.n = l.n
    ORDER BY i.n;
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
    max_attempts integer DEFAULT NULL,
    unique_key text DEFAULT NULL
) RETURNS bigint
LANGUAGE sql AS $$
    SELECT m.id
    FROM pgqueue.enqueue_many(jsonb_build_array(jsonb_build_object(
        'task', task, 'args', args, 'kwargs', kwargs, 'queue', queue,
        'priority', priority, 'run_at', run_at, 'max_attempts', max_attempts,
        'unique_key', unique_key
    ))) AS m
$$
"""

ENQUEUE_COMMENT = """
COMMENT ON FUNCTION pgqueue.enqueue(text, jsonb, jsonb, text, integer, timestamptz, integer, text) IS
    'Enqueue one job; returns its id. With unique_key, returns the id of the queued-or-running job '
    'that already holds the key instead of adding one. Visible to workers when the transaction commits.'
"""

OLD_ENQUEUE_SIGNATURE = "pgqueue.enqueue(text, jsonb, jsonb, text, integer, timestamptz, integer)"
NEW_ENQUEUE_SIGNATURE = (
    "pgqueue.enqueue(text, jsonb, jsonb, text, integer, timestamptz, integer, text)"
)

# Monitoring views. Each reads only the rows its numbers are about, through an index:
# ready (jobs_claim_idx), scheduled/retrying (jobs_due_idx), running (jobs_running_idx), dead and
# the recent-window counts (jobs_finished_idx, a range scan on finished_at). History is never
# scanned, however many millions of finished rows it holds. docs/operations.md has EXPLAINs.
VIEWS = (
    r"""
CREATE VIEW pgqueue.queue_stats AS
WITH ready AS (
    SELECT j.queue, count(*) AS ready, min(j.run_at) AS oldest_ready_at
    FROM pgqueue.jobs AS j
    WHERE j.state = 'queued'
    GROUP BY j.queue
),
waiting AS (
    SELECT j.queue,
           count(*) FILTER (WHERE j.state = 'scheduled') AS scheduled,
           count(*) FILTER (WHERE j.state = 'retrying') AS retrying
    FROM pgqueue.jobs AS j
    WHERE j.state IN ('scheduled', 'retrying')
    GROUP BY j.queue
),
running AS (
    SELECT j.queue, count(*) AS running
    FROM pgqueue.jobs AS j
    WHERE j.state = 'running'
    GROUP BY j.queue
),
dead AS (
    SELECT j.queue, count(*) AS dead
    FROM pgqueue.jobs AS j
    WHERE j.state = 'dead'
    GROUP BY j.queue
),
recent AS (
    SELECT j.queue,
           count(*) FILTER (WHERE j.state = 'succeeded') AS succeeded_5m,
           count(*) FILTER (WHERE j.state = 'dead') AS failed_5m
    FROM pgqueue.jobs AS j
    WHERE j.state IN ('succeeded', 'dead') AND j.finished_at >= now() - interval '5 minutes'
    GROUP BY j.queue
),
queues AS (
    SELECT queue FROM ready
    UNION SELECT queue FROM waiting
    UNION SELECT queue FROM running
    UNION SELECT queue FROM dead
    UNION SELECT queue FROM recent
)
SELECT q.queue,
       coalesce(r.ready, 0) AS ready,
       coalesce(w.scheduled, 0) AS scheduled,
       coalesce(ru.running, 0) AS running,
       coalesce(w.retrying, 0) AS retrying,
       coalesce(d.dead, 0) AS dead,
       coalesce(re.succeeded_5m, 0) AS succeeded_5m,
       coalesce(re.failed_5m, 0) AS failed_5m,
       r.oldest_ready_at,
       coalesce(greatest(extract(epoch FROM now() - r.oldest_ready_at), 0), 0)::float8
           AS lag_seconds
FROM queues AS q
LEFT JOIN ready AS r USING (queue)
LEFT JOIN waiting AS w USING (queue)
LEFT JOIN running AS ru USING (queue)
LEFT JOIN dead AS d USING (queue)
LEFT JOIN recent AS re USING (queue)
""",
    """
COMMENT ON VIEW pgqueue.queue_stats IS
    'Per queue: jobs ready now, scheduled for later, running, waiting to retry, dead-lettered; '
    'succeeded and dead-lettered in the last 5 minutes; age of the oldest ready job (lag).'
""",
    r"""
CREATE VIEW pgqueue.task_throughput AS
-- One branch per state: "state = <one state> AND finished_at >= ..." is a range scan of
-- jobs_finished_idx (state, finished_at); "state IN (all three)" would only repeat the index
-- predicate and leave finished_at without a leading column, so the planner would read it all.
WITH finished AS (
    SELECT j.finished_at, j.queue, j.task, j.state, j.attempts
    FROM pgqueue.jobs AS j
    WHERE j.state = 'succeeded'
      AND j.finished_at >= date_trunc('minute', now()) - interval '59 minutes'
    UNION ALL
    SELECT j.finished_at, j.queue, j.task, j.state, j.attempts
    FROM pgqueue.jobs AS j
    WHERE j.state = 'dead'
      AND j.finished_at >= date_trunc('minute', now()) - interval '59 minutes'
    UNION ALL
    SELECT j.finished_at, j.queue, j.task, j.state, j.attempts
    FROM pgqueue.jobs AS j
    WHERE j.state = 'cancelled'
      AND j.finished_at >= date_trunc('minute', now()) - interval '59 minutes'
)
SELECT date_trunc('minute', j.finished_at) AS minute,
       j.queue,
       j.task,
       count(*) AS finished,
       count(*) FILTER (WHERE j.state = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE j.state = 'dead') AS failed,
       count(*) FILTER (WHERE j.state = 'cancelled') AS cancelled,
       sum(greatest(j.attempts - 1, 0)) AS retries,
       coalesce(
           (count(*) FILTER (WHERE j.state = 'dead'))::float8
           / nullif(count(*) FILTER (WHERE j.state IN ('succeeded', 'dead')), 0),
           0
       ) AS failure_rate
FROM finished AS j
GROUP BY 1, 2, 3
""",
    """
COMMENT ON VIEW pgqueue.task_throughput IS
    'Jobs finished per minute, task and queue over the last hour (60 buckets, the last one '
    'partial): succeeded, failed (dead-lettered), cancelled, retries used, failure rate.'
""",
    r"""
CREATE VIEW pgqueue.task_runtimes AS
SELECT s.task,
       s.jobs,
       s.pct[1] AS p50_seconds,
       s.pct[2] AS p90_seconds,
       s.pct[3] AS p95_seconds,
       s.pct[4] AS p99_seconds,
       s.max_seconds,
       s.mean_seconds
FROM (
    SELECT j.task,
           count(*) AS jobs,
           percentile_cont(ARRAY[0.5, 0.9, 0.95, 0.99]::float8[]) WITHIN GROUP (
               ORDER BY extract(epoch FROM j.finished_at - j.started_at)::float8
           ) AS pct,
           max(extract(epoch FROM j.finished_at - j.started_at))::float8 AS max_seconds,
           avg(extract(epoch FROM j.finished_at - j.started_at))::float8 AS mean_seconds
    FROM pgqueue.jobs AS j
    WHERE j.state = 'succeeded'
      AND j.finished_at >= now() - interval '1 hour'
      AND j.started_at IS NOT NULL
    GROUP BY j.task
) AS s
""",
    """
COMMENT ON VIEW pgqueue.task_runtimes IS
    'Run time (finished_at - started_at of the last attempt) percentiles per task, over the jobs '
    'that succeeded in the last hour.'
""",
    r"""
CREATE VIEW pgqueue.dead_letters AS
SELECT j.id,
       j.queue,
       j.task,
       j.args,
       j.kwargs,
       j.attempts,
       j.max_attempts,
       j.unique_key,
       j.enqueued_at,
       j.finished_at AS died_at,
       j.errors -> -1 ->> 'type' AS error_type,
       j.errors -> -1 ->> 'message' AS error_message,
       j.errors -> -1 AS last_error
FROM pgqueue.jobs AS j
WHERE j.state = 'dead'
""",
    """
COMMENT ON VIEW pgqueue.dead_letters IS
    'Dead-lettered jobs with their last error. Requeue with `pgqueue dlq requeue`.'
""",
)

# -- needs pgqueue.workers (0002) -------------------------------------------------------------
# Created only when that table exists (see upgrade()). After the lead re-chains this revision
# onto 0002_workers the table always exists and the guard is a formality.
WORKER_VIEWS = (
    r"""
CREATE VIEW pgqueue.worker_stats AS
SELECT w.id,
       w.hostname,
       w.pid,
       w.queues,
       w.concurrency,
       w.state,
       w.started_at,
       w.last_heartbeat,
       extract(epoch FROM now() - w.last_heartbeat)::float8 AS heartbeat_age_seconds,
       -- Each worker registers its own heartbeat_ttl: alive while a heartbeat is that fresh.
       (w.state IN ('running', 'stopping') AND w.last_heartbeat > now() - w.heartbeat_ttl)
           AS alive,
       w.processed,
       w.failed,
       w.active,
       (SELECT count(*) FROM pgqueue.jobs AS j WHERE j.state = 'running' AND j.worker_id = w.id)
           AS running_jobs,
       w.version
FROM pgqueue.workers AS w
""",
    """
COMMENT ON VIEW pgqueue.worker_stats IS
    'Per worker: host, pid, queues, heartbeat age, alive (running or stopping, and a heartbeat '
    'within its heartbeat_ttl), '
    'processed / failed / active as the worker reports them, and the running jobs it holds.'
""",
)

# Per-table autovacuum for the hot table (reasons in docs/operations.md, "Autovacuum"):
AUTOVACUUM = {
    # Vacuum after 1% (not 20%) of the rows are dead: every state change leaves a dead tuple and
    # a dead entry in the partial indexes the claim walks, and most rows are history, so the
    # default would wait for millions of dead tuples on a large table.
    "autovacuum_vacuum_scale_factor": "0.01",
    "autovacuum_vacuum_threshold": "1000",
    # Keep the planner's picture of the state distribution fresh.
    "autovacuum_analyze_scale_factor": "0.02",
    "autovacuum_analyze_threshold": "1000",
    # Let vacuum on this table work ten times faster than the default throttle (200).
    "autovacuum_vacuum_cost_limit": "2000",
}


def _core_module() -> ModuleType:
    """Revision 0001's module, loaded from its file beside this one: the downgrade restores its
    function definitions word for word. (Not through alembic.context, which is not set up when
    the revisions run on an application's own connection.)"""
    path = Path(__file__).with_name("0001_core.py")
    spec = importlib.util.spec_from_file_location("pgqueue_migration_0001_core", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    # IF NOT EXISTS: on a large live table a DBA may add the columns and build the indexes
    # CONCURRENTLY beforehand (docs/operations.md, "Migrating a large existing table").
    op.add_column(
        "jobs",
        sa.Column("unique_key", sa.Text(), nullable=True),
        schema="pgqueue",
        if_not_exists=True,
    )
    op.add_column(
        "jobs",
        sa.Column("progress", postgresql.JSONB(), nullable=True),
        schema="pgqueue",
        if_not_exists=True,
    )
    op.create_index(
        "jobs_unique_key_idx",
        "jobs",
        ["unique_key"],
        unique=True,
        schema="pgqueue",
        postgresql_where=sa.text(UNIQUE_PREDICATE),
        if_not_exists=True,
    )
    op.create_index(
        "jobs_finished_idx",
        "jobs",
        ["state", "finished_at"],
        schema="pgqueue",
        postgresql_where=sa.text(f"state IN ({FINISHED})"),
        if_not_exists=True,
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column(
            "acquired_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="leases_pkey"),
        schema="pgqueue",
    )
    op.create_table(
        "schedules",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("task", sa.Text(), nullable=False),
        sa.Column("cron", sa.Text(), nullable=False),
        sa.Column("timezone", sa.Text(), nullable=False, server_default=sa.text("'UTC'")),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.Column("last_tick", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name="schedules_pkey"),
        schema="pgqueue",
    )
    options = ", ".join(f"{k} = {v}" for k, v in AUTOVACUUM.items())
    op.execute(f"ALTER TABLE pgqueue.jobs SET ({options})")
    op.execute(ENQUEUE_INPUT)
    op.execute(ENQUEUE_MANY)
    op.execute(f"DROP FUNCTION {OLD_ENQUEUE_SIGNATURE}")
    op.execute(ENQUEUE)
    op.execute(ENQUEUE_COMMENT)
    for statement in VIEWS:
        op.execute(statement)
    # -- needs pgqueue.workers (0002) --
    for statement in WORKER_VIEWS:
        op.execute(_if_workers_table(statement))


def _if_workers_table(statement: str) -> str:
    """Run `statement` only where pgqueue.workers exists (works in `migrate --sql` output too)."""
    return (
        "DO $do$ BEGIN\n"
        "IF to_regclass('pgqueue.workers') IS NOT NULL THEN\n"
        f"EXECUTE {_dollar_quote(statement)};\n"
        "END IF;\n"
        "END $do$"
    )


def _dollar_quote(text: str) -> str:
    tag = "$view$"
    assert tag not in text
    return f"{tag}{text}{tag}"


def downgrade() -> None:
    core = _core_module()
    op.execute("DROP VIEW IF EXISTS pgqueue.worker_stats")
    for view in ("dead_letters", "task_runtimes", "task_throughput", "queue_stats"):
        op.execute(f"DROP VIEW pgqueue.{view}")
    op.execute(f"DROP FUNCTION {NEW_ENQUEUE_SIGNATURE}")
    # 0001's own text, so the downgrade restores exactly what it created.
    op.execute(core.ENQUEUE_MANY.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    op.execute(core.ENQUEUE)
    op.execute(core.ENQUEUE_COMMENT)
    op.execute("DROP FUNCTION pgqueue.enqueue_input(jsonb)")
    op.execute(f"ALTER TABLE pgqueue.jobs RESET ({', '.join(AUTOVACUUM)})")
    op.drop_table("schedules", schema="pgqueue")
    op.drop_table("leases", schema="pgqueue")
    op.drop_index("jobs_finished_idx", table_name="jobs", schema="pgqueue")
    op.drop_index("jobs_unique_key_idx", table_name="jobs", schema="pgqueue")
    op.drop_column("jobs", "progress", schema="pgqueue")
    op.drop_column("jobs", "unique_key", schema="pgqueue")
