-- pgqueue.requeue_dead(...): put dead letters back in their queue with fresh attempts, from SQL,
-- Python (app.requeue_dead) and the CLI (pgqueue dlq requeue) alike: the one requeue path.
-- Returns how many were requeued. Filters (every one that is given must match; a NULL one
-- matches all): job_ids, task, queue, error_kind (the `kind` of the last error: exception,
-- timeout, worker_lost, payload...), died_before / died_after (finished_at, inclusive / exclusive).
-- died_before defaults to now(), so a job that dies again after the call began is not taken twice.
-- With no filter at all it refuses unless all_dead => true: a bare call is never a mistake that
-- requeues everything. max_jobs bounds one call (callers with many jobs loop while it returns
-- > 0: short transactions); NULL takes every match at once.
-- Of several dead jobs sharing a unique key only the newest of the batch is requeued, and none
-- whose key a waiting or running job holds (the unique index allows one): the next call skips
-- those, so a loop always ends. SECURITY DEFINER with a fixed search_path, so an operator role
-- needs EXECUTE (pgqueue.grant_operator) and no privilege on pgqueue.jobs; the jobs' trigger
-- (0007_notify_triggers) wakes the workers of the requeued jobs' queues.
-- Loaded by revision 0011_dead_letter_functions; a change is a new versioned file and a new
-- revision, never an edit of this one (docs/migrations.md, "SQL functions and views").
CREATE OR REPLACE FUNCTION pgqueue.requeue_dead(
    job_ids bigint[] DEFAULT NULL,
    task text DEFAULT NULL,
    queue text DEFAULT NULL,
    error_kind text DEFAULT NULL,
    died_before timestamptz DEFAULT NULL,
    died_after timestamptz DEFAULT NULL,
    max_jobs integer DEFAULT NULL,
    all_dead boolean DEFAULT false
) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    n bigint;
BEGIN
    IF num_nulls(job_ids, task, queue, error_kind, died_before, died_after) = 6
        AND NOT coalesce(all_dead, false) THEN
        RAISE EXCEPTION 'pgqueue.requeue_dead: no filter given'
            USING ERRCODE = '22023',
                  HINT = 'Name job_ids, task, queue, error_kind, died_before or died_after, '
                         'or pass all_dead => true to requeue every dead letter.';
    END IF;
    IF max_jobs < 1 THEN
        RAISE EXCEPTION 'pgqueue.requeue_dead: max_jobs must be at least 1 (or NULL for all)'
            USING ERRCODE = '22023';
    END IF;
    WITH candidates AS (
        SELECT j.id, j.unique_key
        FROM pgqueue.jobs AS j
        WHERE j.state = 'dead'
          AND j.finished_at <= coalesce(died_before, now())
          AND (died_after IS NULL OR j.finished_at > died_after)
          AND (job_ids IS NULL OR j.id = ANY (job_ids))
          AND (queue IS NULL OR j.queue = queue)
          AND (task IS NULL OR j.task = task)
          AND (error_kind IS NULL OR j.errors -> -1 ->> 'kind' = error_kind)
          AND (j.unique_key IS NULL OR NOT EXISTS (
              SELECT 1 FROM pgqueue.jobs AS a
              WHERE a.unique_key = j.unique_key
                AND a.state IN ('scheduled', 'queued', 'running', 'retrying')
          ))
        ORDER BY j.finished_at
        LIMIT max_jobs
        FOR UPDATE SKIP LOCKED
    ),
    chosen AS (
        SELECT DISTINCT ON (c.unique_key, CASE WHEN c.unique_key IS NULL THEN c.id END) c.id
        FROM candidates AS c
        ORDER BY c.unique_key, CASE WHEN c.unique_key IS NULL THEN c.id END, c.id DESC
    ),
    requeued AS (
        UPDATE pgqueue.jobs AS j
        SET state = 'queued',
            attempts = 0,
            run_at = now(),
            started_at = NULL,
            finished_at = NULL,
            result = NULL,
            progress = NULL,
            cancel_requested_at = NULL
        FROM chosen AS c
        WHERE j.id = c.id
        RETURNING j.id
    )
    SELECT count(*) INTO n FROM requeued;
    RETURN n;
END
$$
