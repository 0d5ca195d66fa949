-- The pgqueue.worker_stats view (`pgqueue status`): one row per registered worker, with its
-- health (abandoned sync threads, claiming, event loop stalls; revision 0005).
SELECT w.id::text AS id, w.hostname, w.pid, w.queues, w.concurrency, w.state, w.started_at,
       w.last_heartbeat, w.heartbeat_age_seconds, w.alive, w.processed, w.failed, w.active,
       w.running_jobs, w.version, w.abandoned_threads, w.claiming, w.loop_stall_seconds,
       w.loop_stalls, w.healthy
FROM pgqueue.worker_stats AS w
ORDER BY w.alive DESC, w.hostname, w.pid
