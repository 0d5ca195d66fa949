-- pgqueue.limit_stats: per limit (a task's or a queue's, pgqueue.limits) and per key of a task's
-- jobs, the limits, the jobs running under them, the jobs waiting on them, the starts of the last
-- minute and the tokens left in the rate's bucket (refilled up to now). `pgqueue status` and the
-- queue metrics read it. Waiting and running jobs come from the partial indexes of limited jobs
-- (jobs_limited_idx, jobs_limited_running_idx), the starts of finished jobs from
-- jobs_finished_idx: history is never scanned. A limit with no job in sight has one row, key ''.
-- Loaded by revision 0013_limits; a change is a new versioned file and a new revision, never an
-- edit of this one (docs/migrations.md, "SQL functions and views").
CREATE OR REPLACE VIEW pgqueue.limit_stats AS
WITH seen AS (
    SELECT j.task, j.queue, coalesce(j.limit_key, '') AS key,
           1 AS waiting, 0 AS running, 0 AS started_1m
    FROM pgqueue.jobs AS j
    WHERE j.state = 'queued' AND j.limited
    UNION ALL
    SELECT j.task, j.queue, coalesce(j.limit_key, ''),
           0, 1, (j.started_at >= now() - interval '1 minute')::integer
    FROM pgqueue.jobs AS j
    WHERE j.state = 'running' AND j.limited
    UNION ALL
    SELECT j.task, j.queue, coalesce(j.limit_key, ''), 0, 0, 1
    FROM pgqueue.jobs AS j
    WHERE j.state IN ('succeeded', 'dead', 'cancelled')
      AND j.finished_at >= now() - interval '1 minute'
      AND j.limited AND j.started_at >= now() - interval '1 minute'
),
grouped AS (
    SELECT 'task'::text AS scope, s.task AS name, s.key,
           sum(s.waiting) AS waiting, sum(s.running) AS running, sum(s.started_1m) AS started_1m
    FROM seen AS s GROUP BY s.task, s.key
    UNION ALL
    SELECT 'queue', s.queue, '', sum(s.waiting), sum(s.running), sum(s.started_1m)
    FROM seen AS s GROUP BY s.queue
)
SELECT l.scope,
       l.name,
       coalesce(g.key, '') AS key,
       l.concurrency AS concurrency_limit,
       l.rate_count,
       l.rate_seconds,
       coalesce(g.running, 0)::bigint AS running,
       coalesce(g.waiting, 0)::bigint AS waiting,
       coalesce(g.started_1m, 0)::bigint AS started_1m,
       CASE WHEN l.rate_count IS NOT NULL THEN
           least(l.burst::float8, coalesce(
               b.tokens + extract(epoch FROM now() - b.refilled_at)::float8
                          * l.rate_count / l.rate_seconds,
               l.burst::float8))
       END AS tokens
FROM pgqueue.limits AS l
LEFT JOIN grouped AS g ON g.scope = l.scope AND g.name = l.name
LEFT JOIN pgqueue.limit_buckets AS b
    ON b.scope = l.scope AND b.name = l.name AND b.key = coalesce(g.key, '')
