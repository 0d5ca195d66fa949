-- For `pgqueue status`: tasks with waiting jobs (queued, scheduled, retrying) in a queue that live
-- workers serve, none of which serves the task (a typo in the name, a task module the workers do
-- not import): those jobs wait, and dead-letter as unknown tasks once claimed elsewhere. A queue no
-- live worker serves at all is not repeated here (`status` names it as an unserved queue). A
-- worker that lists no tasks (started before revision 0010_worker_tasks) may serve any, so its
-- queues report nothing. At most $1 rows. Reads the waiting jobs once per `status`, like the
-- queue_stats view does (jobs_claim_idx, jobs_due_idx); the live workers are a handful of rows.
WITH live AS MATERIALIZED (
    SELECT w.queues, w.tasks
    FROM pgqueue.workers AS w
    WHERE w.state = 'running' AND w.last_heartbeat >= now() - w.heartbeat_ttl
)
SELECT j.queue, j.task, count(*) AS jobs
FROM pgqueue.jobs AS j
WHERE j.state IN ('queued', 'scheduled', 'retrying')
  AND EXISTS (SELECT 1 FROM live AS l WHERE j.queue = ANY (l.queues))
  AND NOT EXISTS (
      SELECT 1 FROM live AS l
      WHERE j.queue = ANY (l.queues) AND (j.task = ANY (l.tasks) OR cardinality(l.tasks) = 0)
  )
GROUP BY j.queue, j.task
ORDER BY j.queue, j.task
LIMIT $1
