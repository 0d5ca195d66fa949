-- One job, everything stored about it (lookups, result waiters, operators), with the ids of its
-- parents (in their order) and of its children (0014_workflows): two probes of
-- job_dependencies' primary key and job_dependencies_parent_idx.
SELECT j.id, j.task, j.queue, j.state, j.priority, j.args::text AS args, j.kwargs::text AS kwargs,
       j.attempts, j.max_attempts, j.run_at, j.enqueued_at, j.started_at, j.finished_at,
       j.result::text AS result, j.errors::text AS errors, j.worker_id::text AS worker_id,
       j.unique_key, j.progress::text AS progress,
       ARRAY(SELECT d.parent_id FROM pgqueue.job_dependencies AS d
             WHERE d.child_id = j.id ORDER BY d.ord) AS parents,
       ARRAY(SELECT d.child_id FROM pgqueue.job_dependencies AS d
             WHERE d.parent_id = j.id ORDER BY d.child_id) AS children
FROM pgqueue.jobs AS j
WHERE j.id = $1
