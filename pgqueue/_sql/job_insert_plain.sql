-- One job without an option (`task.enqueue(...)`, `app.enqueue(name, ...)`: a web request's
-- enqueue), written by the connection's own role as job_insert_one.sql is, with only what such a
-- job needs: $1 task, $2 args, $3 kwargs (JSON text of an array and of an object, which
-- pgqueue._enqueue.plain_job_parameters builds from a list and a dict), $4 queue, $5 priority,
-- $6 max_attempts. The state is 'queued', as job_insert_one.sql computes for a job without run_at
-- or delay, so the wake-up needs no condition; every other column takes its default (run_at
-- now()). Without job_insert_one.sql's conditional expressions and the parameters a plain job
-- leaves NULL, the statement costs the server about a tenth less (benchmarks/
-- statement_instructions.py, docs/benchmarks.md), which is issue 18 goal 1's margin.
-- Checks: the table's CHECK constraints (task and queue names); a refused job is sent on to the
-- JobRequest path, whose checks name it (pgqueue/_repository/jobs.py, Jobs._as_owner).
-- Limited when its task or its queue has limits: one probe of pgqueue.limits' primary key per
-- scope, in one subquery (tests/integration/test_enqueue_paths_rows.py compares the rows).
WITH inserted AS (
    INSERT INTO pgqueue.jobs AS j
        (task, args, kwargs, queue, priority, state, max_attempts, limited)
    SELECT v.task, v.args, v.kwargs, v.queue, v.priority, 'queued', v.max_attempts,
           EXISTS (SELECT 1 FROM pgqueue.limits AS l
                   WHERE (l.scope = 'task' AND l.name = v.task)
                      OR (l.scope = 'queue' AND l.name = v.queue))
    FROM (
        SELECT $1::text AS task,
               $2::text::jsonb AS args,
               $3::text::jsonb AS kwargs,
               $4::text AS queue,
               $5::integer AS priority,
               $6::integer AS max_attempts
    ) AS v
    RETURNING j.id, j.queue
)
SELECT i.id, pg_notify('pgqueue_jobs', i.queue) AS woken
FROM inserted AS i
