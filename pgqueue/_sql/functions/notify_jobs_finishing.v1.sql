-- pgqueue.notify_jobs_finishing(): the trigger function of jobs_notify_finishing (AFTER UPDATE OF
-- finished_at ON pgqueue.jobs, per statement, revision 0009_notify_v2). It marks the statement,
-- in a setting local to the transaction, as one that may have finished jobs, so that
-- pgqueue.notify_jobs(), which runs right after it (same event, later trigger name), reads the
-- transition tables for completion notices; an UPDATE that does not set finished_at (a claim, a
-- progress report, a promotion) cannot finish a row and skips that query. notify_jobs() clears the
-- mark. A change is a new versioned file and a new revision, never an edit of this one.
CREATE OR REPLACE FUNCTION pgqueue.notify_jobs_finishing() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('pgqueue.statement_finishes', 'on', true);
    RETURN NULL;
END
$$
