-- pgqueue.enqueue_input(jobs): one enqueue_many batch parsed into rows, defaults applied (args [],
-- kwargs {}, queue default, priority 0, run_at from delay). One SELECT in a STABLE SQL function, so
-- the planner inlines it where enqueue_many reads it.
-- v2 (revision 0012_job_metadata): the job's metadata object (default {}), e.g. the W3C trace
-- context of the enqueuing code (docs/tracing.md). A new column in the result, so the revision
-- drops v1 first (CREATE OR REPLACE cannot change a function's result type).
-- v3 (revision 0013_limits): one more field, limit_key (the job's flow-control key,
-- docs/limits.md).
-- v4 (revision 0014_workflows): depends_on (ids of existing jobs), depends_on_batch (positions of
-- earlier jobs of the same batch) and on_parent_failure ('cancel' by default, or 'run').
-- A change is a new versioned file and a new revision, never an edit of this one
-- (docs/migrations.md, "SQL functions and views").
CREATE OR REPLACE FUNCTION pgqueue.enqueue_input(jobs jsonb)
RETURNS TABLE (
    n bigint, task text, args jsonb, kwargs jsonb, queue text, priority integer,
    run_at timestamptz, max_attempts integer, unique_key text, metadata jsonb,
    limit_key text, depends_on bigint[], depends_on_batch bigint[], on_parent_failure text
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
           x.unique_key,
           coalesce(nullif(x.metadata, 'null'::jsonb), '{}'::jsonb),
           x.limit_key,
           x.depends_on,
           x.depends_on_batch,
           coalesce(x.on_parent_failure, 'cancel')
    FROM jsonb_array_elements(jobs) WITH ORDINALITY AS e(job, n)
    CROSS JOIN LATERAL jsonb_to_record(e.job) AS x(
        task text, args jsonb, kwargs jsonb, queue text, priority int,
        run_at timestamptz, delay double precision, max_attempts int, unique_key text,
        metadata jsonb, limit_key text,
        depends_on bigint[], depends_on_batch bigint[], on_parent_failure text
    )
$$
