-- Requeues up to $5 dead-lettered jobs matching the filters (ids, queue, task; NULL matches all)
-- that died before $4, with fresh attempts. Callers loop until fewer than $5 come back: short
-- transactions, and a job that dies again meanwhile (after $4) is not picked up a second time.
-- Of several dead jobs sharing a unique key only the newest is requeued, and none whose key is
-- held by a queued-or-running job (the unique index allows one).
WITH candidates AS (
    SELECT j.id, j.unique_key
    FROM pgqueue.jobs AS j
    WHERE j.state = 'dead'
      AND j.finished_at <= $4::timestamptz
      AND ($1::bigint[] IS NULL OR j.id = ANY ($1::bigint[]))
      AND ($2::text IS NULL OR j.queue = $2)
      AND ($3::text IS NULL OR j.task = $3)
    ORDER BY j.finished_at
    LIMIT $5
    FOR UPDATE SKIP LOCKED
),
chosen AS (
    SELECT DISTINCT ON (c.unique_key, CASE WHEN c.unique_key IS NULL THEN c.id END) c.id
    FROM candidates AS c
    WHERE c.unique_key IS NULL OR NOT EXISTS (
        SELECT 1 FROM pgqueue.jobs AS a
        WHERE a.unique_key = c.unique_key
          AND a.state IN ('scheduled', 'queued', 'running', 'retrying')
    )
    ORDER BY c.unique_key, CASE WHEN c.unique_key IS NULL THEN c.id END, c.id DESC
),
requeued AS (
    UPDATE pgqueue.jobs AS j
    SET state = 'queued',
        attempts = 0,
        run_at = now(),
        started_at = NULL,
        finished_at = NULL,
        result = NULL,
        progress = NULL,
        cancel_requested_at = NULL
    FROM chosen AS c
    WHERE j.id = c.id
    RETURNING j.id
)
-- The jobs' trigger (0007_notify_triggers) wakes the workers of their queues.
SELECT (SELECT count(*) FROM candidates) AS examined,
       (SELECT count(*) FROM requeued) AS requeued
