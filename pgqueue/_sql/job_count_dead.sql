-- How many dead-lettered jobs match the filters (ids, queue, task, died before $4; NULL matches
-- all): what a purge would delete, shown before asking for confirmation.
SELECT count(*) AS n
FROM pgqueue.jobs AS j
WHERE j.state = 'dead'
  AND j.finished_at <= $4::timestamptz
  AND ($1::bigint[] IS NULL OR j.id = ANY ($1::bigint[]))
  AND ($2::text IS NULL OR j.queue = $2)
  AND ($3::text IS NULL OR j.task = $3)
