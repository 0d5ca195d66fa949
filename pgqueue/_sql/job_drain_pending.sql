-- The jobs pgqueue.testing.drain still waits for, per queue, in the queues $1 (NULL: every queue):
-- jobs queued or running, and scheduled or waiting-to-retry jobs that are due (a worker promotes
-- those next); with $2 true, every scheduled and waiting-to-retry job, due or not. One snapshot,
-- so a job moving from running back to queued is never missed between two counts.
SELECT j.queue, count(*) AS pending
FROM pgqueue.jobs AS j
WHERE j.state IN ('queued', 'running', 'scheduled', 'retrying')
  AND (CAST($1 AS text[]) IS NULL OR j.queue = ANY (CAST($1 AS text[])))
  AND (j.state IN ('queued', 'running') OR CAST($2 AS boolean) OR j.run_at <= now())
GROUP BY j.queue
ORDER BY j.queue
