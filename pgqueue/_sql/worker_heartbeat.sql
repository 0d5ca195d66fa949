-- Registers a worker or records its heartbeat (database time) with its counters and its health
-- (abandoned sync threads, whether it claims, how long its event loop had not answered), and the
-- task names it serves (so `pgqueue enqueue` and `pgqueue status` can name a task no live worker
-- serves: written on every beat, as a worker's tasks are known only once its modules load). An
-- upsert, so a worker whose row was pruned, or marked lost after a long outage, is live again at
-- its next beat. Returns the state the row was in *before* this beat ('new' when there was no
-- row): 'lost' tells the worker it was declared lost and its jobs may have been rescued. The row
-- is locked first so that answer is the latest committed state, never a stale snapshot; the
-- insert reads `previous` so it is taken before the row changes (RETURNING alone sees only the
-- new row).
WITH previous AS MATERIALIZED (
    SELECT w.state FROM pgqueue.workers AS w WHERE w.id = $1::uuid FOR UPDATE
)
INSERT INTO pgqueue.workers AS w
    (id, hostname, pid, queues, concurrency, version, heartbeat_ttl, processed, failed, active,
     abandoned_threads, claiming, loop_stall_seconds, loop_stalls, tasks)
SELECT $1::uuid, $2, $3, $4::text[], $5, $6, make_interval(secs => $7), $8, $9, $10,
       $11, $12, $13, $14, $15::text[]
FROM (VALUES (1)) AS one (n)
LEFT JOIN previous AS p ON true
ON CONFLICT (id) DO UPDATE
SET last_heartbeat = now(),
    processed = excluded.processed,
    failed = excluded.failed,
    active = excluded.active,
    abandoned_threads = excluded.abandoned_threads,
    claiming = excluded.claiming,
    loop_stall_seconds = excluded.loop_stall_seconds,
    loop_stalls = excluded.loop_stalls,
    tasks = excluded.tasks,
    state = CASE WHEN w.state = 'lost' THEN 'running' ELSE w.state END,
    stopped_at = CASE WHEN w.state = 'lost' THEN NULL ELSE w.stopped_at END
RETURNING coalesce((SELECT p.state FROM previous AS p), 'new') AS previous
