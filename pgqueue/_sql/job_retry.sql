-- Puts the given dead-lettered, cancelled or waiting-to-retry jobs back in the queue to run now.
-- Dead and cancelled ones start afresh (attempts 0); a waiting retry keeps its count. A job whose
-- unique key is held by another queued-or-running job is skipped (the index allows only one), and
-- of several finished jobs sharing a key only the newest is retried.
WITH locked AS (
    SELECT j.id, j.state, j.unique_key
    FROM pgqueue.jobs AS j
    WHERE j.id = ANY ($1::bigint[])
      AND j.state IN ('dead', 'cancelled', 'retrying')
    FOR UPDATE OF j
),
candidates AS (
    SELECT DISTINCT ON (l.unique_key, CASE WHEN l.unique_key IS NULL OR l.state = 'retrying' THEN l.id END) l.id
    FROM locked AS l
    WHERE l.unique_key IS NULL OR l.state = 'retrying' OR NOT EXISTS (
        SELECT 1 FROM pgqueue.jobs AS a
        WHERE a.unique_key = l.unique_key
          AND a.state IN ('scheduled', 'queued', 'running', 'retrying')
    )
    ORDER BY l.unique_key, CASE WHEN l.unique_key IS NULL OR l.state = 'retrying' THEN l.id END, l.id DESC
),
retried AS (
    UPDATE pgqueue.jobs AS j
    SET state = 'queued',
        attempts = CASE WHEN j.state = 'retrying' THEN j.attempts ELSE 0 END,
        run_at = now(),
        started_at = NULL,
        finished_at = NULL,
        result = NULL,
        progress = NULL,
        cancel_requested_at = NULL
    FROM candidates AS c
    WHERE j.id = c.id
    RETURNING j.id
)
-- The jobs' trigger (0007_notify_triggers) wakes the workers of their queues.
SELECT r.id
FROM retried AS r
ORDER BY r.id
