-- The pgqueue.queue_stats view (`pgqueue status`, metrics): one row per queue.
SELECT q.queue, q.ready, q.scheduled, q.running, q.retrying, q.dead, q.succeeded_5m,
       q.failed_5m, q.oldest_ready_at, q.lag_seconds, q.waiting
FROM pgqueue.queue_stats AS q
ORDER BY q.queue
