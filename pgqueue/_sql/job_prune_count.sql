-- How many jobs in finished state $1 finished more than $2 seconds ago: what a prune would
-- delete (`pgqueue prune --dry-run`). A range scan of jobs_finished_idx.
SELECT count(*) AS n
FROM pgqueue.jobs AS j
WHERE j.state = $1::text
  AND j.finished_at < now() - make_interval(secs => $2::float8)
