-- pgqueue.task_runtimes: run time percentiles per task over the jobs that succeeded in the last
-- hour (a range scan of jobs_finished_idx).
-- Loaded by revision 0008_sql_files; a change is a new versioned file and a new revision, never
-- an edit of this one (docs/migrations.md, "SQL functions and views").
CREATE OR REPLACE VIEW pgqueue.task_runtimes AS
SELECT s.task,
       s.jobs,
       s.pct[1] AS p50_seconds,
       s.pct[2] AS p90_seconds,
       s.pct[3] AS p95_seconds,
       s.pct[4] AS p99_seconds,
       s.max_seconds,
       s.mean_seconds
FROM (
    SELECT j.task,
           count(*) AS jobs,
           percentile_cont(ARRAY[0.5, 0.9, 0.95, 0.99]::float8[]) WITHIN GROUP (
               ORDER BY extract(epoch FROM j.finished_at - j.started_at)::float8
           ) AS pct,
           max(extract(epoch FROM j.finished_at - j.started_at))::float8 AS max_seconds,
           avg(extract(epoch FROM j.finished_at - j.started_at))::float8 AS mean_seconds
    FROM pgqueue.jobs AS j
    WHERE j.state = 'succeeded'
      AND j.finished_at >= now() - interval '1 hour'
      AND j.started_at IS NOT NULL
    GROUP BY j.task
) AS s
