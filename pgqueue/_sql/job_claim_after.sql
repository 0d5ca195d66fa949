-- job_claim.sql with a keyset lower bound: claims up to $2 runnable jobs from the queues in $1
-- for worker $3, but per queue only those after the claim-order key ($4 priority, $5 run_at,
-- $6 id; the elements at the queue's position, all NULL for a queue without one), so the scan
-- of jobs_claim_idx starts after that key instead of at its head. The worker runs it only while
-- its full claims are slow (pgqueue/_claim_cursor.py): while a transaction holds the xmin
-- horizon, every job claimed since it began leaves an entry at the head of jobs_claim_idx that
-- nothing may remove, and the full claim visits each one's heap tuple. Jobs before the key (a
-- higher priority, an older run_at: a job committed late, promoted, put back) are not taken here
-- but by the full claim the worker still runs at a bounded interval (docs/worker.md).
-- Claim order is (priority DESC, run_at, id); "after (p, r, i)" is two index range scans, each in
-- that order: priority = p AND (run_at, id) > (r, i), then priority < p. A queue without a key
-- is scanned from its head, as job_claim.sql does. Each branch is its own LIMIT and FOR UPDATE
-- SKIP LOCKED (in a subquery: UNION does not take FOR UPDATE), and the LIMIT above them stops pulling (and locking) once it has $2 rows: the
-- Append runs its branches in order, and the one-time filters keep the branches that do not
-- apply to a queue from scanning at all. The rest is job_claim.sql's (the worker's state check,
-- the UPDATE, the columns it returns, its commit that does not wait for the disk), plus
-- run_at, the key of the next bounded claim.
WITH candidates AS (
    SELECT c.id
    FROM unnest($1::text[], $4::integer[], $5::timestamptz[], $6::bigint[])
        AS q(name, priority, run_at, id)
    CROSS JOIN LATERAL (
        SELECT u.id, u.priority, u.run_at
        FROM (
            SELECT b.id, b.priority, b.run_at
            FROM (
                SELECT j.id, j.priority, j.run_at
                FROM pgqueue.jobs AS j
                WHERE q.priority IS NOT NULL
                  AND j.state = 'queued' AND j.queue = q.name AND NOT j.limited
                  AND j.priority = q.priority AND (j.run_at, j.id) > (q.run_at, q.id)
                ORDER BY j.priority DESC, j.run_at, j.id
                LIMIT $2
                FOR UPDATE SKIP LOCKED
            ) AS b
            UNION ALL
            SELECT b.id, b.priority, b.run_at
            FROM (
                SELECT j.id, j.priority, j.run_at
                FROM pgqueue.jobs AS j
                WHERE q.priority IS NOT NULL
                  AND j.state = 'queued' AND j.queue = q.name AND NOT j.limited
                  AND j.priority < q.priority
                ORDER BY j.priority DESC, j.run_at, j.id
                LIMIT $2
                FOR UPDATE SKIP LOCKED
            ) AS b
            UNION ALL
            SELECT b.id, b.priority, b.run_at
            FROM (
                SELECT j.id, j.priority, j.run_at
                FROM pgqueue.jobs AS j
                WHERE q.priority IS NULL
                  AND j.state = 'queued' AND j.queue = q.name AND NOT j.limited
                ORDER BY j.priority DESC, j.run_at, j.id
                LIMIT $2
                FOR UPDATE SKIP LOCKED
            ) AS b
        ) AS u
        LIMIT $2
    ) AS c
    WHERE NOT EXISTS (
        SELECT 1 FROM pgqueue.workers AS w WHERE w.id = $3::uuid AND w.state <> 'running'
    )
      AND set_config('synchronous_commit', 'off', true) IS NOT NULL
    ORDER BY c.priority DESC, c.run_at, c.id
    LIMIT $2
)
UPDATE pgqueue.jobs AS j
SET state = 'running',
    attempts = j.attempts + 1,
    started_at = now(),
    worker_id = $3::uuid
WHERE j.id = ANY(ARRAY(SELECT candidates.id FROM candidates))
RETURNING j.id, j.task, j.queue, j.args::text AS args, j.kwargs::text AS kwargs,
          j.priority, j.attempts, j.max_attempts, j.enqueued_at, j.metadata::text AS metadata,
          j.run_at
