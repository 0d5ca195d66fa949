-- job_enqueue_many.sql for a DB-API connection in the "format" paramstyle (psycopg): how the
-- Django backend enqueues through Django's own connection, so the job commits or rolls back with
-- the view's transaction.atomic(). The same pgqueue.enqueue_many writes the row and wakes workers
-- as on every other path. now() is the job's enqueued_at (the column's default: the transaction's
-- start), returned so the TaskResult says what the row says without a second query.
-- No percent sign in these comments: the driver reads every one as a placeholder.
SELECT m.id, now() AS enqueued_at
FROM pgqueue.enqueue_many(%s::text::jsonb) AS m
ORDER BY m.ord
