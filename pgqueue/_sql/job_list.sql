-- Jobs for `pgqueue jobs list`, newest first, filtered by queue, task and states (each filter
-- optional: NULL matches all). Walks the primary key backwards and stops at $4 rows; a state
-- filter on active states reads the small partial indexes instead.
SELECT j.id, j.task, j.queue, j.state, j.priority, j.attempts, j.max_attempts, j.run_at,
       j.enqueued_at, j.started_at, j.finished_at, j.unique_key,
       j.errors -> -1 ->> 'type' AS error_type,
       j.errors -> -1 ->> 'message' AS error_message
FROM pgqueue.jobs AS j
WHERE ($1::text IS NULL OR j.queue = $1)
  AND ($2::text IS NULL OR j.task = $2)
  AND ($3::text[] IS NULL OR j.state = ANY ($3::text[]))
ORDER BY j.id DESC
LIMIT $4
