-- pgqueue.cancel(job_id): cancel one job from Python, the CLI or psql; returns what happened. A
-- job that has not started (scheduled, queued, waiting to retry, waiting on its parents) is
-- cancelled at once; a running one is flagged (cancel_requested_at) and its worker told on
-- pgqueue_cancel, a hint: the worker also checks the flag on every heartbeat.
-- v3 (0016_finish_hooks): v2 (0014_workflows) with the job cancelled at once handed to
-- pgqueue.jobs_finished(), which sends its completion notice and cancels or queues what waits on
-- it (pgqueue.resolve_waiting()); the jobs' statement triggers that did both are gone.
-- Loaded by revision 0016_finish_hooks; a change is a new versioned file and a new revision, never
-- an edit of this one (docs/migrations.md, "SQL functions and views").
CREATE OR REPLACE FUNCTION pgqueue.cancel(job_id bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    current text;
BEGIN
    SELECT j.state INTO current FROM pgqueue.jobs AS j WHERE j.id = job_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'not_found';
    END IF;
    IF current IN ('scheduled', 'queued', 'retrying', 'waiting') THEN
        UPDATE pgqueue.jobs AS j
        SET state = 'cancelled', finished_at = now(), cancel_requested_at = now()
        WHERE j.id = job_id;
        PERFORM pgqueue.jobs_finished(ARRAY[job_id]);
        RETURN 'cancelled';
    END IF;
    IF current = 'running' THEN
        UPDATE pgqueue.jobs AS j SET cancel_requested_at = coalesce(j.cancel_requested_at, now())
        WHERE j.id = job_id;
        PERFORM pg_notify('pgqueue_cancel', job_id::text);
        RETURN 'cancelling';
    END IF;
    -- Already finished: nothing to do; the caller learns the final state.
    RETURN current;
END
$$
