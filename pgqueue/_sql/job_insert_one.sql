-- One job without a unique key or parents, written by the connection's own role when that role
-- may insert into pgqueue.jobs (the schema's owner, as most applications connect): the row and
-- the wake-up of pgqueue.enqueue_one in one plain statement, without the cost of a SECURITY
-- DEFINER call with its own search_path (issue 18 goal 1: a single enqueue at the speed of a raw
-- INSERT + NOTIFY). The parameters are enqueue_one's but the unique key: $1 task, $2 args,
-- $3 kwargs, $4 queue, $5 priority, $6 run_at, $7 delay, $8 max_attempts, $9 metadata,
-- $10 limit_key, the JSON values and run_at as text (a caller's codec cannot re-encode them).
-- Checks: the table's CHECK and NOT NULL constraints, which hold enqueue_many's rules (args that
-- are not an array and kwargs that are not an object become NULL, refused by NOT NULL, as in
-- pgqueue.enqueue_batch); a refused job is sent on to enqueue_one, whose checks name it with the
-- message every path gives (pgqueue/_repository/jobs.py). A role without the privilege gets
-- "permission denied" once and uses enqueue_one from then on. Defaults, state rule, limited mark
-- and wake-up as enqueue_one v2; tests/integration/test_enqueue_paths_rows.py compares the rows.
WITH inserted AS (
    INSERT INTO pgqueue.jobs AS j
        (task, args, kwargs, queue, priority, state, run_at, max_attempts, metadata, limit_key,
         limited)
    SELECT v.task,
           CASE jsonb_typeof(v.args) WHEN 'array' THEN v.args WHEN 'null' THEN '[]'::jsonb END,
           CASE jsonb_typeof(v.kwargs) WHEN 'object' THEN v.kwargs WHEN 'null' THEN '{}'::jsonb END,
           v.queue,
           v.priority,
           CASE WHEN v.run_at > now() THEN 'scheduled' ELSE 'queued' END,
           v.run_at,
           v.max_attempts,
           coalesce(nullif(v.metadata, 'null'::jsonb), '{}'::jsonb),
           v.limit_key,
           -- Limited when its task or its queue has limits (the primary key of pgqueue.limits).
           EXISTS (SELECT 1 FROM pgqueue.limits AS l WHERE l.scope = 'task' AND l.name = v.task)
           OR EXISTS (SELECT 1 FROM pgqueue.limits AS l
                      WHERE l.scope = 'queue' AND l.name = v.queue)
    FROM (
        SELECT $1::text AS task,
               coalesce($2::text::jsonb, '[]'::jsonb) AS args,
               coalesce($3::text::jsonb, '{}'::jsonb) AS kwargs,
               coalesce($4::text, 'default') AS queue,
               coalesce($5::integer, 0) AS priority,
               coalesce($6::text::timestamptz,
                        now() + make_interval(secs => coalesce($7::float8, 0))) AS run_at,
               $8::integer AS max_attempts,
               $9::text::jsonb AS metadata,
               $10::text AS limit_key
    ) AS v
    RETURNING j.id, j.queue, j.state
)
SELECT i.id,
       CASE WHEN i.state = 'queued' THEN pg_notify('pgqueue_jobs', i.queue) END AS woken
FROM inserted AS i
