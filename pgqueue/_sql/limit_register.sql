-- Registers a worker's limits in pgqueue.limits: the rows in $1..$6 (scope, name, concurrency,
-- rate count, rate seconds, burst) are inserted or updated, and the tasks in $7 and the queues in
-- $8, which this worker declares without limits, lose theirs. Returns how many rows changed (an
-- update that changes nothing is skipped: every worker start registers the same limits again)
-- and how many limits the database holds (none: the worker never runs the limited claim).
WITH wanted AS (
    SELECT *
    FROM unnest($1::text[], $2::text[], $3::integer[], $4::integer[], $5::float8[], $6::integer[])
        AS w(scope, name, concurrency, rate_count, rate_seconds, burst)
),
dropped AS (
    DELETE FROM pgqueue.limits AS l
    WHERE (l.scope = 'task' AND l.name = ANY ($7::text[]))
       OR (l.scope = 'queue' AND l.name = ANY ($8::text[]))
    RETURNING l.scope
),
changed AS (
    INSERT INTO pgqueue.limits AS l (scope, name, concurrency, rate_count, rate_seconds, burst)
    SELECT w.scope, w.name, w.concurrency, w.rate_count, w.rate_seconds, w.burst FROM wanted AS w
    ON CONFLICT (scope, name) DO UPDATE
        SET concurrency = excluded.concurrency, rate_count = excluded.rate_count,
            rate_seconds = excluded.rate_seconds, burst = excluded.burst, updated_at = now()
        WHERE (l.concurrency, l.rate_count, l.rate_seconds, l.burst)
              IS DISTINCT FROM
              (excluded.concurrency, excluded.rate_count, excluded.rate_seconds, excluded.burst)
    RETURNING (l.xmax = 0) AS inserted
)
SELECT (SELECT count(*) FROM dropped) + (SELECT count(*) FROM changed) AS changed,
       -- The statement's snapshot: rows this statement inserted or deleted are not in it.
       (SELECT count(*) FROM pgqueue.limits) - (SELECT count(*) FROM dropped)
           + (SELECT count(*) FROM changed WHERE inserted) AS total
