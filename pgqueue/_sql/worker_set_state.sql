-- Moves a worker to stopping or stopped (graceful shutdown), with its final counters.
UPDATE pgqueue.workers AS w
SET state = $2,
    last_heartbeat = now(),
    stopped_at = CASE WHEN $2 = 'stopped' THEN now() ELSE w.stopped_at END,
    processed = $3,
    failed = $4,
    active = $5
WHERE w.id = $1::uuid
