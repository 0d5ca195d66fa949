-- The pgqueue.worker_stats view (`pgqueue status`): one row per registered worker, with its
-- health (abandoned sync threads, claiming, event loop stalls; revision 0005), and its uptime
-- (as in worker_list.sql; the view has no stopped_at, hence the join).
SELECT w.id::text AS id, w.hostname, w.pid, w.queues, w.concurrency, w.state, w.started_at,
       w.last_heartbeat, w.heartbeat_age_seconds, w.alive, w.processed, w.failed, w.active,
       w.running_jobs, w.version, w.abandoned_threads, w.claiming, w.loop_stall_seconds,
       w.loop_stalls, w.healthy,
       extract(epoch FROM CASE WHEN r.state IN ('running', 'stopping') THEN now()
                               ELSE coalesce(r.stopped_at, r.last_heartbeat) END
                          - r.started_at)::float8 AS uptime_seconds
FROM pgqueue.worker_stats AS w
JOIN pgqueue.workers AS r ON r.id = w.id
ORDER BY w.alive DESC, w.hostname, w.pid
