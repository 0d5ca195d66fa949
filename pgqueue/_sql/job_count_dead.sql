-- How many dead-lettered jobs match the filters (ids, task, queue, last error's kind, died
-- before $5 and after $6; NULL matches all), as pgqueue.purge_dead would select them: what a
-- purge would delete, shown before asking for confirmation.
SELECT count(*) AS n
FROM pgqueue.jobs AS j
WHERE j.state = 'dead'
  AND j.finished_at <= $5::timestamptz
  AND ($6::timestamptz IS NULL OR j.finished_at > $6::timestamptz)
  AND ($1::bigint[] IS NULL OR j.id = ANY ($1::bigint[]))
  AND ($2::text IS NULL OR j.task = $2)
  AND ($3::text IS NULL OR j.queue = $3)
  AND ($4::text IS NULL OR j.errors -> -1 ->> 'kind' = $4)
