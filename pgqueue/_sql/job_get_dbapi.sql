-- One job, for a Django TaskResult (get_result, refresh), read through Django's own connection
-- in the "format" paramstyle (psycopg), so a view sees a job it enqueued in its still-open
-- transaction. A primary-key lookup. No percent sign in these comments (placeholders).
SELECT j.task, j.queue, j.state, j.priority, j.args::text, j.kwargs::text, j.attempts,
       j.enqueued_at, j.started_at, j.finished_at, j.result::text, j.errors::text,
       j.worker_id::text
FROM pgqueue.jobs AS j
WHERE j.id = %s
