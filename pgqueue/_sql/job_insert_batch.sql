-- A batch without unique keys or parents, written by the connection's own role when that role
-- may insert into pgqueue.jobs (the schema's owner, as most applications connect): the rows and
-- the wake-ups of pgqueue.enqueue_batch in one plain statement, without the function's costs (a
-- PL/pgSQL call with its own search_path, the subtransaction of its EXCEPTION block, its result
-- set handed back row by row and aggregated again): issue 18 goal 2, a batch at the speed of a
-- raw COPY. As job_insert_one.sql is to pgqueue.enqueue_one. The parameters are
-- job_enqueue_batch.sql's: one array per column ($1 task, $2 args, $3 kwargs, $4 queue,
-- $5 priority, $6 run_at, $7 delay, $8 max_attempts, $9 metadata, $10 limit_key), NULL where
-- every job takes the default, the JSON values and run_at as text. Checks: the table's CHECK and
-- NOT NULL constraints, which hold enqueue_many's rules (args that are not an array and kwargs
-- that are not an object become NULL, refused by NOT NULL); a refused batch writes nothing (one
-- autocommit statement) and is sent on to pgqueue.enqueue_batch, whose fallback names the first
-- bad job with the message every path gives (pgqueue/_repository/jobs.py). Defaults, state rule,
-- limited mark and wake-ups as enqueue_batch v1; tests/integration/test_enqueue_paths_rows.py
-- compares the rows. Returns the ids in input order: identity values are drawn in insertion
-- order, and the rows are inserted in input order.
WITH limited_names AS (
    -- The tasks and queues that have limits, read once per batch.
    SELECT coalesce(array_agg(l.name) FILTER (WHERE l.scope = 'task'), '{}') AS tasks,
           coalesce(array_agg(l.name) FILTER (WHERE l.scope = 'queue'), '{}') AS queues
    FROM pgqueue.limits AS l
), inserted AS (
    INSERT INTO pgqueue.jobs AS j
        (task, args, kwargs, queue, priority, state, run_at, max_attempts, metadata, limit_key,
         limited)
    SELECT b.task, b.args, b.kwargs, b.queue, b.priority,
           CASE WHEN b.run_at > now() THEN 'scheduled' ELSE 'queued' END,
           b.run_at, b.max_attempts, b.metadata, b.limit_key,
           b.task = ANY (lim.tasks) OR b.queue = ANY (lim.queues)
    FROM (
        SELECT u.n, u.task,
               CASE WHEN u.args IS NULL THEN '[]'::jsonb
                    ELSE CASE jsonb_typeof(u.args)
                             WHEN 'array' THEN u.args WHEN 'null' THEN '[]'::jsonb END
               END AS args,
               CASE WHEN u.kwargs IS NULL THEN '{}'::jsonb
                    ELSE CASE jsonb_typeof(u.kwargs)
                             WHEN 'object' THEN u.kwargs WHEN 'null' THEN '{}'::jsonb END
               END AS kwargs,
               coalesce(u.queue, 'default') AS queue,
               coalesce(u.priority, 0) AS priority,
               CASE WHEN u.run_at IS NOT NULL THEN u.run_at
                    WHEN u.delay IS NULL THEN now()
                    ELSE now() + make_interval(secs => u.delay)
               END AS run_at,
               u.max_attempts,
               coalesce(nullif(u.metadata, 'null'::jsonb), '{}'::jsonb) AS metadata,
               u.limit_key
        FROM unnest($1::text[], $2::text[]::jsonb[], $3::text[]::jsonb[], $4::text[],
                    $5::integer[], $6::text[]::timestamptz[], $7::float8[], $8::integer[],
                    $9::text[]::jsonb[], $10::text[])
            WITH ORDINALITY AS u(task, args, kwargs, queue, priority, run_at, delay,
                                 max_attempts, metadata, limit_key, n)
    ) AS b
    CROSS JOIN limited_names AS lim
    ORDER BY b.n
    RETURNING j.id, j.queue, j.state
)
SELECT array_agg(i.id ORDER BY i.id) AS ids,
       -- One wake-up per queue with queued rows among those inserted, sent at commit.
       (SELECT count(pg_notify('pgqueue_jobs', w.queue))
        FROM (SELECT DISTINCT q.queue FROM inserted AS q WHERE q.state = 'queued') AS w) AS woken
FROM inserted AS i
