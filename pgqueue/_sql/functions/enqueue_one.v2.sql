-- pgqueue.enqueue_one(task, args, kwargs, queue, priority, run_at, delay, max_attempts,
-- unique_key, metadata, limit_key) v2 (revision 0018_enqueue_one_v2): v1's row, checks, messages,
-- defaults, unique-key rounds and wake-up, in fewer statements per call (issue 18 goal 1, a
-- single enqueue at the speed of a raw INSERT + NOTIFY):
-- - the checks run as one expression when the job is valid (every call but a bad one): v1's
--   sixteen ELSIF tests, each evaluated on its own, run only to name the problem once the one
--   test found there is one, in v1's order with v1's messages;
-- - the wake-up is sent by the INSERT's own statement (pg_notify in the SELECT over its
--   RETURNING, as a raw INSERT + NOTIFY does), not by a second PERFORM;
-- - the defaults of pgqueue.enqueue_input are written into the INSERT, not assigned one by one.
-- One INSERT body still (tests/migrations/test_sql_files.py, test_enqueue_has_one_insert_body):
-- a plain INSERT for a job without a unique key would skip ON CONFLICT's speculative insertion,
-- but a second body could drift from the first.
-- The round limit's error names pgqueue.enqueue_one (v1 said pgqueue.enqueue_many).
-- SECURITY DEFINER with a fixed search_path, as v1 and enqueue_many: a producer role needs
-- EXECUTE only; without the SET clause every name, operator and cast here would resolve through
-- the caller's search_path (docs/security.md).
-- A change is a new versioned file and a new revision, never an edit of this one
-- (docs/migrations.md, "SQL functions and views").
CREATE OR REPLACE FUNCTION pgqueue.enqueue_one(
    task text,
    args jsonb DEFAULT NULL,
    kwargs jsonb DEFAULT NULL,
    queue text DEFAULT NULL,
    priority integer DEFAULT NULL,
    run_at timestamptz DEFAULT NULL,
    delay double precision DEFAULT NULL,
    max_attempts integer DEFAULT NULL,
    unique_key text DEFAULT NULL,
    metadata jsonb DEFAULT NULL,
    limit_key text DEFAULT NULL,
    OUT id bigint,
    OUT duplicate boolean
)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    problem text;
    stored_state text;
    rounds integer := 0;
    woken text;  -- pg_notify's result (void), read into nothing that matters
BEGIN
    -- True when one of the checks below fails (NULL, like an ELSIF's NULL, is no failure).
    IF (task IS NULL OR task = '' OR octet_length(task) > 200
        OR task ~ '[\u0001-\u001f\u007f-\u009f]'
        OR jsonb_typeof(args) NOT IN ('array', 'null')
        OR jsonb_typeof(kwargs) NOT IN ('object', 'null')
        OR queue = '' OR octet_length(queue) > 200 OR queue ~ '[\u0001-\u001f\u007f-\u009f]'
        OR max_attempts < 1
        OR unique_key = '' OR octet_length(unique_key) > 1000
        OR unique_key ~ '[\u0001-\u001f\u007f-\u009f]'
        OR jsonb_typeof(metadata) NOT IN ('object', 'null')
        OR limit_key = '' OR octet_length(limit_key) > 1000
        OR limit_key ~ '[\u0001-\u001f\u007f-\u009f]') IS TRUE
    THEN
        -- enqueue_many's checks for the fields a typed call can get wrong, in its order.
        IF task IS NULL OR task = '' THEN
            problem := 'needs a non-empty "task" name';
        ELSIF octet_length(task) > 200 THEN
            problem := format('has a "task" name of %s bytes: the limit is 200 bytes (UTF-8)',
                              octet_length(task));
        ELSIF task ~ '[\u0001-\u001f\u007f-\u009f]' THEN
            problem := 'has a control character in its "task" name: names must be printable';
        ELSIF jsonb_typeof(args) NOT IN ('array', 'null') THEN
            problem := 'has "args" that is not a JSON array';
        ELSIF jsonb_typeof(kwargs) NOT IN ('object', 'null') THEN
            problem := 'has "kwargs" that is not a JSON object';
        ELSIF queue = '' THEN
            problem := 'has an empty or non-text "queue"';
        ELSIF octet_length(queue) > 200 THEN
            problem := format('has a "queue" name of %s bytes: the limit is 200 bytes (UTF-8)',
                              octet_length(queue));
        ELSIF queue ~ '[\u0001-\u001f\u007f-\u009f]' THEN
            problem := 'has a control character in its "queue" name: names must be printable';
        ELSIF max_attempts < 1 THEN
            problem := 'has "max_attempts" below 1';
        ELSIF unique_key = '' THEN
            problem := 'has an empty or non-text "unique_key"';
        ELSIF octet_length(unique_key) > 1000 THEN
            problem := format('has a "unique_key" of %s bytes: the limit is 1000 bytes (UTF-8)',
                              octet_length(unique_key));
        ELSIF unique_key ~ '[\u0001-\u001f\u007f-\u009f]' THEN
            problem := 'has a control character in its "unique_key": keys must be printable';
        ELSIF jsonb_typeof(metadata) NOT IN ('object', 'null') THEN
            problem := 'has "metadata" that is not a JSON object';
        ELSIF limit_key = '' THEN
            problem := 'has an empty or non-text "limit_key"';
        ELSIF octet_length(limit_key) > 1000 THEN
            problem := format('has a "limit_key" of %s bytes: the limit is 1000 bytes (UTF-8)',
                              octet_length(limit_key));
        ELSE
            problem := 'has a control character in its "limit_key": keys must be printable';
        END IF;
        RAISE EXCEPTION 'pgqueue.enqueue: job #1 %', problem USING ERRCODE = '22023';
    END IF;

    -- pgqueue.enqueue_input's defaults (args, kwargs and metadata in the INSERT itself).
    queue := coalesce(queue, 'default');
    run_at := coalesce(run_at, now() + make_interval(secs => coalesce(delay, 0)));

    LOOP
        WITH i AS (
            INSERT INTO pgqueue.jobs AS j
                (task, args, kwargs, queue, priority, state, run_at, max_attempts, unique_key,
                 metadata, limit_key, limited)
            VALUES (
                enqueue_one.task,
                coalesce(nullif(enqueue_one.args, 'null'::jsonb), '[]'::jsonb),
                coalesce(nullif(enqueue_one.kwargs, 'null'::jsonb), '{}'::jsonb),
                enqueue_one.queue,
                coalesce(enqueue_one.priority, 0),
                CASE WHEN enqueue_one.run_at > now() THEN 'scheduled' ELSE 'queued' END,
                enqueue_one.run_at, enqueue_one.max_attempts, enqueue_one.unique_key,
                coalesce(nullif(enqueue_one.metadata, 'null'::jsonb), '{}'::jsonb),
                enqueue_one.limit_key,
                -- Limited when its task or its queue has limits (the primary key of
                -- pgqueue.limits).
                EXISTS (SELECT 1 FROM pgqueue.limits AS l
                        WHERE l.scope = 'task' AND l.name = enqueue_one.task)
                OR EXISTS (SELECT 1 FROM pgqueue.limits AS l
                           WHERE l.scope = 'queue' AND l.name = enqueue_one.queue)
            )
            ON CONFLICT (unique_key)
                WHERE unique_key IS NOT NULL
                  AND state IN ('scheduled', 'queued', 'running', 'retrying')
                DO NOTHING
            RETURNING j.id, j.state
        )
        SELECT i.id, i.state,
               CASE WHEN i.state = 'queued' THEN pg_notify('pgqueue_jobs', enqueue_one.queue) END
        INTO id, stored_state, woken
        FROM i;
        IF id IS NOT NULL THEN
            duplicate := false;
            RETURN;
        END IF;
        -- The key is held: a new statement takes a new snapshot and sees the holder (the INSERT
        -- waited for its transaction). None: it finished in between, the key is free again.
        SELECT a.id INTO id
        FROM pgqueue.jobs AS a
        WHERE a.unique_key = enqueue_one.unique_key
          AND a.state IN ('scheduled', 'queued', 'running', 'retrying');
        IF id IS NOT NULL THEN
            duplicate := true;
            RETURN;
        END IF;
        rounds := rounds + 1;
        IF rounds >= 50 THEN
            RAISE EXCEPTION 'pgqueue.enqueue_one: unique keys kept changing hands; retry'
                USING ERRCODE = '40001';
        END IF;
    END LOOP;
END
$$
