-- The state of each of the given jobs (result waiters check many at once).
SELECT j.id, j.state
FROM pgqueue.jobs AS j
WHERE j.id = ANY($1::bigint[])
