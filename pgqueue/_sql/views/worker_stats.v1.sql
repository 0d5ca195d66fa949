-- pgqueue.worker_stats: per worker, its heartbeat age, whether it is alive (running or stopping
-- with a heartbeat within its own heartbeat_ttl) and healthy, what it reports, and the running jobs
-- it holds (jobs_running_idx).
-- Loaded by revision 0008_sql_files; a change is a new versioned file and a new revision, never
-- an edit of this one (docs/migrations.md, "SQL functions and views").
CREATE OR REPLACE VIEW pgqueue.worker_stats AS
SELECT w.id,
       w.hostname,
       w.pid,
       w.queues,
       w.concurrency,
       w.state,
       w.started_at,
       w.last_heartbeat,
       extract(epoch FROM now() - w.last_heartbeat)::float8 AS heartbeat_age_seconds,
       -- Each worker registers its own heartbeat_ttl: alive while a heartbeat is that fresh.
       (w.state IN ('running', 'stopping') AND w.last_heartbeat > now() - w.heartbeat_ttl)
           AS alive,
       w.processed,
       w.failed,
       w.active,
       (SELECT count(*) FROM pgqueue.jobs AS j WHERE j.state = 'running' AND j.worker_id = w.id)
           AS running_jobs,
       w.version,
       w.abandoned_threads,
       w.claiming,
       w.loop_stall_seconds,
       w.loop_stalls,
       -- Alive, claiming, and its event loop answering at the last heartbeat.
       (w.state IN ('running', 'stopping') AND w.last_heartbeat > now() - w.heartbeat_ttl
        AND w.claiming AND w.loop_stall_seconds = 0) AS healthy
FROM pgqueue.workers AS w
