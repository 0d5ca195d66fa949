-- One page of the dashboard's dead letters, latest deaths first, after the keyset cursor
-- ($3 died_at, $4 id; NULL for the first page), filtered by queue and task (NULL matches all).
-- Reads jobs_finished_idx (state = 'dead', finished_at) backwards from the cursor, so a page
-- costs the same on the first page as on the thousandth.
SELECT j.id, j.queue, j.task, j.attempts, j.max_attempts, j.enqueued_at, j.finished_at AS died_at,
       j.errors -> -1 ->> 'type' AS error_type,
       j.errors -> -1 ->> 'message' AS error_message
FROM pgqueue.jobs AS j
WHERE j.state = 'dead'
  AND ($1::text IS NULL OR j.queue = $1)
  AND ($2::text IS NULL OR j.task = $2)
  AND ($3::timestamptz IS NULL
       OR (j.finished_at <= $3::timestamptz
           AND (j.finished_at < $3::timestamptz OR j.id < $4::bigint)))
ORDER BY j.finished_at DESC, j.id DESC
LIMIT $5
