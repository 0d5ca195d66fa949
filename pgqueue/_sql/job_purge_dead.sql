-- Deletes up to $5 dead-lettered jobs matching the filters (ids, queue, task, died before $4;
-- NULL matches all). Callers loop until fewer than $5 come back, so no transaction is long and
-- no lock is held for more than a batch. Reads jobs_finished_idx.
WITH doomed AS (
    SELECT j.id
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
deleted AS (
    DELETE FROM pgqueue.jobs AS j
    USING doomed AS d
    WHERE j.id = d.id
    RETURNING j.id
)
SELECT count(*) AS deleted FROM deleted
