-- pgqueue.purge_dead(...): delete dead letters for good, from SQL, Python (app.purge_dead) and
-- the CLI (pgqueue dlq purge) alike: the one purge path. Returns how many were deleted. The
-- filters are pgqueue.requeue_dead's (every one given must match; NULL matches all): job_ids,
-- task, queue, error_kind (the last error's `kind`), died_before (default now()) / died_after.
-- With no filter at all it refuses unless all_dead => true. max_jobs bounds one call (callers
-- with many jobs loop while it returns max_jobs: short transactions, no lock held for more than
-- a batch); NULL deletes every match at once. Reads jobs_finished_idx (state, finished_at).
-- SECURITY DEFINER with a fixed search_path, so an operator role needs EXECUTE
-- (pgqueue.grant_operator) and no DELETE on pgqueue.jobs.
-- Loaded by revision 0011_dead_letter_functions; a change is a new versioned file and a new
-- revision, never an edit of this one (docs/migrations.md, "SQL functions and views").
CREATE OR REPLACE FUNCTION pgqueue.purge_dead(
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
        RAISE EXCEPTION 'pgqueue.purge_dead: no filter given'
            USING ERRCODE = '22023',
                  HINT = 'Name job_ids, task, queue, error_kind, died_before or died_after, '
                         'or pass all_dead => true to delete every dead letter.';
    END IF;
    IF max_jobs < 1 THEN
        RAISE EXCEPTION 'pgqueue.purge_dead: max_jobs must be at least 1 (or NULL for all)'
            USING ERRCODE = '22023';
    END IF;
    WITH doomed AS (
        SELECT j.id
        FROM pgqueue.jobs AS j
        WHERE j.state = 'dead'
          AND j.finished_at <= coalesce(died_before, now())
          AND (died_after IS NULL OR j.finished_at > died_after)
          AND (job_ids IS NULL OR j.id = ANY (job_ids))
          AND (queue IS NULL OR j.queue = queue)
          AND (task IS NULL OR j.task = task)
          AND (error_kind IS NULL OR j.errors -> -1 ->> 'kind' = error_kind)
        ORDER BY j.finished_at
        LIMIT max_jobs
        FOR UPDATE SKIP LOCKED
    ),
    deleted AS (
        DELETE FROM pgqueue.jobs AS j
        USING doomed AS d
        WHERE j.id = d.id
        RETURNING j.id
    )
    SELECT count(*) INTO n FROM deleted;
    RETURN n;
END
$$
