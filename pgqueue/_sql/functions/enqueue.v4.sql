-- pgqueue.enqueue(task, ...): one job, for SQL callers (psql, triggers, other languages); returns
-- its id, or with unique_key the id of the live job holding the key. A one-row enqueue_many, so it
-- writes exactly the row every other enqueue path writes.
-- v2 (revision 0012_job_metadata): `metadata`, the job's metadata object (a trace context for
-- the worker's span: docs/tracing.md). A new parameter is a new signature, so the revision drops
-- the previous one and carries its grants and comment over.
-- v3 (revision 0013_limits): one more parameter, limit_key (docs/limits.md).
-- v4 (revision 0014_workflows): depends_on => ARRAY[...]::bigint[], the ids of the jobs this one
-- waits for (docs/workflows.md), and on_parent_failure ('cancel' or 'run').
-- A change is a new versioned file and a new revision, never an edit of this one
-- (docs/migrations.md, "SQL functions and views").
CREATE OR REPLACE FUNCTION pgqueue.enqueue(
    task text,
    args jsonb DEFAULT '[]',
    kwargs jsonb DEFAULT '{}',
    queue text DEFAULT 'default',
    priority integer DEFAULT 0,
    run_at timestamptz DEFAULT now(),
    max_attempts integer DEFAULT NULL,
    unique_key text DEFAULT NULL,
    metadata jsonb DEFAULT '{}',
    limit_key text DEFAULT NULL,
    depends_on bigint[] DEFAULT NULL,
    on_parent_failure text DEFAULT NULL
) RETURNS bigint
LANGUAGE sql AS $$
    SELECT m.id
    FROM pgqueue.enqueue_many(jsonb_build_array(jsonb_build_object(
        'task', task, 'args', args, 'kwargs', kwargs, 'queue', queue,
        'priority', priority, 'run_at', run_at, 'max_attempts', max_attempts,
        'unique_key', unique_key, 'metadata', metadata,
        'limit_key', limit_key, 'depends_on', depends_on,
        'on_parent_failure', on_parent_failure
    ))) AS m
$$
