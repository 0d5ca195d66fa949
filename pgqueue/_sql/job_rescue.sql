-- Rescues up to $1 jobs held by workers that are no longer alive: back to the queue with the
-- attempt counted, cancelled if a cancel was requested, or dead-lettered when the job's
-- max_attempts is used up (a NULL max_attempts is
-- resolved by the worker that claims the job next). A worker is alive only if its row says so and
-- it beat within its own ttl (measured as in worker_reap.sql): a pruned row, or a reused hostname
-- or pid, can never protect a lost job, and a live worker's job is never touched however long it
-- runs. SKIP LOCKED and the state guard make concurrent rescuers harmless.
WITH lost AS (
    SELECT j.id
    FROM pgqueue.jobs AS j
    WHERE j.state = 'running'
      AND NOT EXISTS (
          SELECT 1
          FROM pgqueue.workers AS w
          WHERE w.id = j.worker_id
            AND w.state IN ('running', 'stopping')
            AND greatest(w.last_heartbeat, pg_postmaster_start_time()) >= now() - w.heartbeat_ttl
      )
    ORDER BY j.id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
),
rescued AS (
    UPDATE pgqueue.jobs AS j
    SET state = CASE
            WHEN j.cancel_requested_at IS NOT NULL THEN 'cancelled'
            WHEN j.max_attempts IS NOT NULL AND j.attempts >= j.max_attempts THEN 'dead'
            ELSE 'queued'
        END,
        finished_at = CASE
            WHEN j.cancel_requested_at IS NOT NULL THEN now()
            WHEN j.max_attempts IS NOT NULL AND j.attempts >= j.max_attempts THEN now()
        END,
        worker_id = NULL,
        -- The attempt that was lost, for the next attempt's trace span (docs/tracing.md): the
        -- lost attempt's own span, if any, died with its worker.
        metadata = j.metadata || jsonb_build_object('pgqueue.lost_attempt', j.attempts),
        errors = j.errors || jsonb_build_array(jsonb_build_object(
            'at', now(),
            'attempt', j.attempts,
            'kind', 'worker_lost',
            'type', 'WorkerLost',
            'message', 'worker lost: ' || coalesce(j.worker_id::text, 'unknown')
                       || ' stopped heartbeating while running this job',
            'traceback', NULL
        ))
    FROM lost
    WHERE j.id = lost.id AND j.state = 'running'
    RETURNING j.id, j.state
),
-- The jobs' row trigger (jobs_notify_queued) wakes workers for the requeued ones; the dead and
-- cancelled go to pgqueue.jobs_finished() (0016_finish_hooks): their result waiters, their
-- children.
finish AS (
    SELECT pgqueue.jobs_finished(ARRAY(
        SELECT r.id FROM rescued AS r WHERE r.state IN ('dead', 'cancelled')
    ))
)
SELECT r.id, r.state
FROM rescued AS r, finish
