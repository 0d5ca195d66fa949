-- Cancels jobs that are not running yet (queued, scheduled, waiting to retry, waiting on their
-- parents): they become `cancelled` and finished, with the reason as their last error;
-- pgqueue.jobs_finished() (0016_finish_hooks) wakes their result waiters and cancels what waits on
-- them (pgqueue.resolve_waiting()).
-- Running jobs are left alone here (the worker running them must stop them).
WITH cancelled AS (
    UPDATE pgqueue.jobs AS j
    SET state = 'cancelled',
        finished_at = now(),
        errors = j.errors || jsonb_build_array(jsonb_build_object(
            'at', now(), 'attempt', j.attempts, 'kind', 'cancelled', 'type', 'cancelled',
            'message', $2::text, 'traceback', NULL
        ))
    WHERE j.id = ANY ($1::bigint[]) AND j.state IN ('queued', 'scheduled', 'retrying', 'waiting')
    RETURNING j.id
),
finish AS (
    SELECT pgqueue.jobs_finished(ARRAY(SELECT c.id FROM cancelled AS c))
)
SELECT c.id
FROM cancelled AS c, finish
ORDER BY c.id
