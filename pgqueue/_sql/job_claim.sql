-- Claims up to $2 runnable jobs from the queues in $1 for worker $3, highest priority first.
-- The CTE locks candidates with SKIP LOCKED so concurrent workers never wait on each other; the
-- UPDATE marks them running and counts the attempt. Per queue (LATERAL) the scan walks
-- jobs_claim_idx in order and stops after $2 rows, however long the backlog or history.
-- Limited jobs (their task or queue has limits) are never taken here but by
-- pgqueue.claim_limited (docs/limits.md); `limited` is the index's second column, so however many
-- of them wait at their limits, this scan starts at the first unlimited job.
-- A worker whose row is not 'running' (declared lost, stopping, stopped) claims nothing: a worker
-- declared lost may still run the jobs the rescue just put back, and must not take them again
-- before its next heartbeat has registered it anew. (A one-time filter on workers_pkey; an id
-- with no row at all may claim, as before registration in tests and tools.)
-- metadata (text, decoded only when the worker is instrumented) carries the enqueuer's trace
-- context and the rescue's note of a lost attempt (docs/tracing.md). run_at completes the job's
-- claim-order key, which the worker remembers for job_claim_after.sql (docs/worker.md).
-- The claim's commit does not wait for the WAL to reach the disk (synchronous_commit off for
-- this transaction only, the set_config below): the round trip to fsync was a fifth of a claim,
-- and the claim is what a busy worker waits on between batches. A claim lost in a crash of
-- PostgreSQL or of its host leaves the job `queued` with its attempt uncounted: the outcome of
-- the attempt that ran is refused (state, attempt and worker guard it) or, if the same worker
-- claims the job again first, dropped by that worker, and the job runs again (at least once:
-- its side effects happen twice). Every synchronous commit after it (an outcome, a heartbeat)
-- writes it out too, so no outcome is ever durable without its claim. Outcomes and the limited
-- claim keep waiting for the disk (docs/reliability.md, "Claims commit asynchronously").
WITH candidates AS (
    SELECT c.id
    FROM unnest($1::text[]) AS q(name)
    CROSS JOIN LATERAL (
        SELECT j.id, j.priority, j.run_at
        FROM pgqueue.jobs AS j
        WHERE j.state = 'queued' AND j.queue = q.name AND NOT j.limited
        ORDER BY j.priority DESC, j.run_at, j.id
        LIMIT $2
        FOR UPDATE SKIP LOCKED
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
-- = ANY(ARRAY(...)) keeps a primary-key lookup in generic plans too (a join may not).
WHERE j.id = ANY(ARRAY(SELECT candidates.id FROM candidates))
RETURNING j.id, j.task, j.queue, j.args::text AS args, j.kwargs::text AS kwargs,
          j.priority, j.attempts, j.max_attempts, j.enqueued_at, j.metadata::text AS metadata,
          j.run_at
