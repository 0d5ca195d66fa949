-- pgqueue.dead_letters: dead-lettered jobs with their last error (jobs_finished_idx).
-- Loaded by revision 0008_sql_files; a change is a new versioned file and a new revision, never
-- an edit of this one (docs/migrations.md, "SQL functions and views").
CREATE OR REPLACE VIEW pgqueue.dead_letters AS
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
