-- Moves scheduled jobs and retries whose run_at has come (database time) into the queue, at most
-- $1 at a time; the jobs' trigger (0007_notify_triggers) wakes the workers of each queue that got
-- jobs. Any number of workers may run it at once: SKIP LOCKED hands each row to one of them.
-- Reads jobs_due_idx. $2 stands in for now() when given (a test's clock, pgqueue/_clock.py); NULL
-- in production.
WITH due AS (
    SELECT j.id
    FROM pgqueue.jobs AS j
    WHERE j.state IN ('scheduled', 'retrying') AND j.run_at <= coalesce($2::timestamptz, now())
    ORDER BY j.run_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
),
promoted AS (
    UPDATE pgqueue.jobs AS j
    SET state = 'queued'
    -- = ANY(ARRAY(...)) keeps a primary-key lookup in generic plans too (a join may not).
    WHERE j.id = ANY(ARRAY(SELECT due.id FROM due))
    RETURNING j.queue
)
SELECT p.queue, count(*) AS jobs FROM promoted AS p GROUP BY p.queue
