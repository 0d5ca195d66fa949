-- The results of job $1's parents in the order its depends_on named them (job_dependencies.ord,
-- the primary key read in order): current_job().parent_results(), a group callback's members'
-- results, with each parent's task (parent_results_of(task) keeps that task's). A parent that did
-- not succeed (on_parent_failure = 'run') gives NULL.
SELECT p.task, p.result::text AS result
FROM pgqueue.job_dependencies AS d
JOIN pgqueue.jobs AS p ON p.id = d.parent_id
WHERE d.child_id = $1
ORDER BY d.ord
