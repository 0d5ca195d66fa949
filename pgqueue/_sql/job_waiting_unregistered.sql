-- Tasks with jobs waiting (queued or scheduled) on the queues $1 that are not among the task
-- names $2, with how many jobs each: what `pgqueue worker` reports at start-up, so a task module
-- missing from --import is named before its jobs dead-letter as unknown tasks. Run once per
-- start, not per job: it reads the waiting jobs of the served queues, at most $3 task names.
SELECT j.task, count(*) AS jobs
FROM pgqueue.jobs AS j
WHERE j.state IN ('queued', 'scheduled')
  AND j.queue = ANY($1::text[])
  AND j.task <> ALL($2::text[])
GROUP BY j.task
ORDER BY j.task
LIMIT $3
