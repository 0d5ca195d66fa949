-- The pgqueue.worker_stats view (`pgqueue status`): one row per registered worker.
SELECT w.id::text AS id, w.hostname, w.pid, w.queues, w.concurrency, w.state, w.started_at,
       w.last_heartbeat, w.heartbeat_age_seconds, w.alive, w.processed, w.failed, w.active,
       w.running_jobs, w.version
FROM pgqueue.worker_stats AS w
ORDER BY w.alive DESC, w.hostname, w.pid
