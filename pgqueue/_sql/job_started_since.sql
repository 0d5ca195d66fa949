-- Ids of the jobs in the queues $2 (NULL: every queue) whose latest attempt started at or after
-- $1: what one pgqueue.testing.drain ran. A test database's table is small; not a hot query.
SELECT j.id
FROM pgqueue.jobs AS j
WHERE j.started_at >= $1
  AND ($2::text[] IS NULL OR j.queue = ANY ($2::text[]))
ORDER BY j.id
