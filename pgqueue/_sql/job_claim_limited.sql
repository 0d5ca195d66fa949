-- Claims up to $2 limited jobs from the queues in $1 for worker $3, as many as their limits allow
-- now, in one call of pgqueue.claim_limited (functions/claim_limited.v1.sql: why a function, the
-- lock limited claims take turns on, the indexes). A row with id NULL is no job: its wait_seconds
-- says when a limit that holds jobs back lets the next one start.
SELECT c.id, c.task, c.queue, c.args, c.kwargs, c.priority, c.attempts, c.max_attempts,
       c.enqueued_at, c.metadata, c.wait_seconds
FROM pgqueue.claim_limited($1::text[], $2::integer, $3::uuid) AS c
