-- Jobs waiting to run (queued or scheduled), oldest first, optionally of one task ($1) and one
-- queue ($2), at most $3: what pgqueue.testing.assert_enqueued and enqueued_jobs read. Run on the
-- caller's own connection too, so a test sees the jobs of a transaction it has not committed
-- (parameters written as CAST($n AS ...) so the same text serves SQLAlchemy's :name binding).
SELECT j.id, j.task, j.queue, j.state, j.priority, CAST(j.args AS text) AS args,
       CAST(j.kwargs AS text) AS kwargs, j.run_at, j.max_attempts, j.unique_key
FROM pgqueue.jobs AS j
WHERE j.state IN ('queued', 'scheduled')
  AND (CAST($1 AS text) IS NULL OR j.task = CAST($1 AS text))
  AND (CAST($2 AS text) IS NULL OR j.queue = CAST($2 AS text))
ORDER BY j.id
LIMIT CAST($3 AS integer)
