-- pgqueue.task_throughput: jobs finished per minute, task and queue over the last hour, each
-- state a range scan of jobs_finished_idx.
-- Loaded by revision 0008_sql_files; a change is a new versioned file and a new revision, never
-- an edit of this one (docs/migrations.md, "SQL functions and views").
CREATE OR REPLACE VIEW pgqueue.task_throughput AS
-- One branch per state: "state = <one state> AND finished_at >= ..." is a range scan of
-- jobs_finished_idx (state, finished_at); "state IN (all three)" would only repeat the index
-- predicate and leave finished_at without a leading column, so the planner would read it all.
WITH finished AS (
    SELECT j.finished_at, j.queue, j.task, j.state, j.attempts
    FROM pgqueue.jobs AS j
    WHERE j.state = 'succeeded'
      AND j.finished_at >= date_trunc('minute', now()) - interval '59 minutes'
    UNION ALL
    SELECT j.finished_at, j.queue, j.task, j.state, j.attempts
    FROM pgqueue.jobs AS j
    WHERE j.state = 'dead'
      AND j.finished_at >= date_trunc('minute', now()) - interval '59 minutes'
    UNION ALL
    SELECT j.finished_at, j.queue, j.task, j.state, j.attempts
    FROM pgqueue.jobs AS j
    WHERE j.state = 'cancelled'
      AND j.finished_at >= date_trunc('minute', now()) - interval '59 minutes'
)
SELECT date_trunc('minute', j.finished_at) AS minute,
       j.queue,
       j.task,
       count(*) AS finished,
       count(*) FILTER (WHERE j.state = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE j.state = 'dead') AS failed,
       count(*) FILTER (WHERE j.state = 'cancelled') AS cancelled,
       sum(greatest(j.attempts - 1, 0)) AS retries,
       coalesce(
           (count(*) FILTER (WHERE j.state = 'dead'))::float8
           / nullif(count(*) FILTER (WHERE j.state IN ('succeeded', 'dead')), 0),
           0
       ) AS failure_rate
FROM finished AS j
GROUP BY 1, 2, 3
