-- One job, everything stored about it (lookups, result waiters, operators).
SELECT j.id, j.task, j.queue, j.state, j.priority, j.args::text AS args, j.kwargs::text AS kwargs,
       j.attempts, j.max_attempts, j.run_at, j.enqueued_at, j.started_at, j.finished_at,
       j.result::text AS result, j.errors::text AS errors, j.worker_id::text AS worker_id,
       j.unique_key, j.progress::text AS progress
FROM pgqueue.jobs AS j
WHERE j.id = $1
