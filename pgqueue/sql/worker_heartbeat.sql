-- Registers a worker or records its heartbeat (database time) with its counters. An upsert, so a
-- worker whose row was pruned, or marked lost after a long outage, is live again at its next beat.
INSERT INTO pgqueue.workers AS w
    (id, hostname, pid, queues, concurrency, version, heartbeat_ttl, processed, failed, active)
VALUES ($1::uuid, $2, $3, $4::text[], $5, $6, make_interval(secs => $7), $8, $9, $10)
ON CONFLICT (id) DO UPDATE
SET last_heartbeat = now(),
    processed = excluded.processed,
    failed = excluded.failed,
    active = excluded.active,
    state = CASE WHEN w.state = 'lost' THEN 'running' ELSE w.state END,
    stopped_at = CASE WHEN w.state = 'lost' THEN NULL ELSE w.stopped_at END
RETURNING w.state
