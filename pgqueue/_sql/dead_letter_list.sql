-- Dead-lettered jobs for `pgqueue dlq list`, latest deaths first, filtered by queue and task
-- (NULL matches all). Reads jobs_finished_idx (state = 'dead') backwards.
SELECT d.id, d.queue, d.task, d.args::text AS args, d.kwargs::text AS kwargs, d.attempts,
       d.max_attempts, d.unique_key, d.enqueued_at, d.died_at, d.error_type, d.error_message,
       d.last_error::text AS last_error
FROM pgqueue.dead_letters AS d
WHERE ($1::text IS NULL OR d.queue = $1)
  AND ($2::text IS NULL OR d.task = $2)
ORDER BY d.died_at DESC, d.id DESC
LIMIT $3
