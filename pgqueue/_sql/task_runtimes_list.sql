-- The pgqueue.task_runtimes view: run-time percentiles per task over the last hour.
SELECT r.task, r.jobs, r.p50_seconds, r.p90_seconds, r.p95_seconds, r.p99_seconds,
       r.max_seconds, r.mean_seconds
FROM pgqueue.task_runtimes AS r
ORDER BY r.task
