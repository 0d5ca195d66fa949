-- After pgqueue.limits changed: the waiting jobs of the tasks in $1 and the queues in $2 are marked
-- limited exactly when their task or queue has limits now (pgqueue.enqueue_many marks new jobs
-- the same way), so jobs enqueued before a limit was declared wait on it too, and jobs of a limit
-- that was removed go back to the plain claim. Dead and cancelled jobs too: an operator's retry
-- puts them back in the queue, where a stale mark would leave them to a limited claim that no
-- worker runs once no limit is left. Waiting jobs (docs/workflows.md) too: their parents queue
-- them later with the mark they hold. Runs only when the limits changed (a deploy): one pass over
-- the table (no index has the task first), writing only the rows whose mark changes.
UPDATE pgqueue.jobs AS j
SET limited = NOT j.limited
WHERE j.state IN ('scheduled', 'queued', 'retrying', 'waiting', 'dead', 'cancelled')
  AND (j.task = ANY ($1::text[]) OR j.queue = ANY ($2::text[]))
  AND j.limited IS DISTINCT FROM EXISTS (
      SELECT 1 FROM pgqueue.limits AS l
      WHERE (l.scope = 'task' AND l.name = j.task) OR (l.scope = 'queue' AND l.name = j.queue)
  )
