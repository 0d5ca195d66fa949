-- One page of the dashboard's job list, newest first: ids below $4 (the keyset cursor, NULL for
-- the newest) and not below $5 (the lowest id this page may look at). Each page is a bounded
-- range scan of the primary key however rare the filter's matches are in a history of millions:
-- a page that runs out of window before filling up offers to look further back from $5.
-- Filters are optional (NULL matches all).
SELECT j.id, j.task, j.queue, j.state, j.priority, j.attempts, j.max_attempts, j.run_at,
       j.enqueued_at, j.started_at, j.finished_at,
       CASE WHEN jsonb_typeof(j.progress -> 'value') = 'number'
            THEN (j.progress ->> 'value')::float8 END AS progress,
       j.errors -> -1 ->> 'type' AS error_type,
       j.errors -> -1 ->> 'message' AS error_message
FROM pgqueue.jobs AS j
WHERE ($1::text IS NULL OR j.queue = $1)
  AND ($2::text IS NULL OR j.task = $2)
  AND ($3::text[] IS NULL OR j.state = ANY ($3::text[]))
  AND j.id < $4::bigint
  AND j.id >= $5::bigint
ORDER BY j.id DESC
LIMIT $6
