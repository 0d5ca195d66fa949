-- The pgqueue.queue_stats view (`pgqueue status`, metrics): one row per queue.
-- `waiting` (jobs waiting on their parents) is a column of the view since 0014_workflows; read
-- through the row as JSON, so status still works on a schema migrated only that far back (0 then,
-- as no job can wait there), like the limits and the unserved tasks.
SELECT q.queue, q.ready, q.scheduled, q.running, q.retrying, q.dead, q.succeeded_5m,
       q.failed_5m, q.oldest_ready_at, q.lag_seconds,
       coalesce((to_jsonb(q) ->> 'waiting')::bigint, 0) AS waiting
FROM pgqueue.queue_stats AS q
ORDER BY q.queue
