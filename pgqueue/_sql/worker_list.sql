-- Workers for `pgqueue workers`: live ones, or all with $1. Alive means the row says running or
-- stopping and the last heartbeat is within the worker's own ttl (database time). Health as the
-- worker last reported it: abandoned sync threads, claiming, event loop stalls. Uptime: until
-- now for a running or stopping worker, until it stopped (or its last heartbeat, when lost).
-- The task names it serves, as it recorded them (0010_worker_tasks; `--json` only).
SELECT w.id::text AS id, w.hostname, w.pid, w.queues, w.concurrency, w.version, w.state,
       w.state IN ('running', 'stopping') AND w.last_heartbeat >= now() - w.heartbeat_ttl AS alive,
       extract(epoch FROM now() - w.last_heartbeat)::float8 AS heartbeat_age,
       w.processed, w.failed, w.active, w.started_at, w.last_heartbeat, w.stopped_at,
       w.abandoned_threads, w.claiming, w.loop_stall_seconds, w.loop_stalls,
       extract(epoch FROM CASE WHEN w.state IN ('running', 'stopping') THEN now()
                               ELSE coalesce(w.stopped_at, w.last_heartbeat) END
                          - w.started_at)::float8 AS uptime_seconds,
       w.tasks
FROM pgqueue.workers AS w
WHERE $1::boolean OR w.state IN ('running', 'stopping')
ORDER BY w.started_at, w.id
