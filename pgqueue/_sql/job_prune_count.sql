-- How many jobs in finished state $1 finished more than $2 seconds ago: what a prune would
-- delete (`pgqueue prune --dry-run`). A range scan of jobs_finished_idx, in a generic plan too:
-- the finished states named as a constant let it prove the partial index applies (job_prune.sql).
SELECT count(*) AS n
FROM pgqueue.jobs AS j
WHERE j.state = $1::text
  AND j.state IN ('succeeded', 'dead', 'cancelled')
  AND j.finished_at < now() - make_interval(secs => $2::float8)
