-- pgqueue.enqueue_one(task, args, kwargs, queue, priority, run_at, delay, max_attempts,
-- unique_key, metadata, limit_key): one job without dependencies, in typed parameters, for the
-- hottest path (app.enqueue / task.enqueue on asyncpg, periodic ticks). Returns the job's id and
-- duplicate (true: a live job holding unique_key, whose id it is). The same row as
-- pgqueue.enqueue_many v5 writes for the same job (tests/integration/test_enqueue_paths_rows.py
-- compares them column by column): the same defaults as pgqueue.enqueue_input (args [],
-- kwargs {}, queue default, priority 0, metadata {}, run_at from delay, a JSON null taken as
-- absent), the same checks in the same order with the same messages ("pgqueue.enqueue: job #1
-- ..."), the same state rule (scheduled when run_at is later than now(), else queued), limited
-- when the task or the queue has a row in pgqueue.limits, the same ON CONFLICT on the partial
-- unique index with the same retry rounds, and the same wake-up: one pg_notify on pgqueue_jobs
-- with the queue name when the job is queued (revision 0015_enqueue_fast moved the NOTIFY from
-- the INSERT trigger into the enqueue functions).
-- Why a second function: enqueue_many's JSON parse and its dozen statements are the cost of a
-- one-job call (0.57 ms against 0.28 ms for a raw INSERT + NOTIFY, docs/benchmarks.md); here a
-- job is a few IFs and one INSERT ... VALUES.
-- SECURITY DEFINER with a fixed search_path, as enqueue_many (0004): a producer role needs
-- EXECUTE only. The SET clause costs about a tenth of a call; without it every name, operator,
-- cast and the triggers' own lookups would resolve through the caller's search_path, and one
-- unqualified `=` would let a producer run code as the owner (docs/security.md).
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
BEGIN
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
    ELSIF limit_key ~ '[\u0001-\u001f\u007f-\u009f]' THEN
        problem := 'has a control character in its "limit_key": keys must be printable';
    END IF;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'pgqueue.enqueue: job #1 %', problem USING ERRCODE = '22023';
    END IF;

    -- pgqueue.enqueue_input's defaults.
    args := coalesce(nullif(args, 'null'::jsonb), '[]'::jsonb);
    kwargs := coalesce(nullif(kwargs, 'null'::jsonb), '{}'::jsonb);
    queue := coalesce(queue, 'default');
    priority := coalesce(priority, 0);
    run_at := coalesce(run_at, now() + make_interval(secs => coalesce(delay, 0)));
    metadata := coalesce(nullif(metadata, 'null'::jsonb), '{}'::jsonb);

    LOOP
        INSERT INTO pgqueue.jobs AS j
            (task, args, kwargs, queue, priority, state, run_at, max_attempts, unique_key,
             metadata, limit_key, limited)
        VALUES (
            enqueue_one.task, enqueue_one.args, enqueue_one.kwargs, enqueue_one.queue,
            enqueue_one.priority,
            CASE WHEN enqueue_one.run_at > now() THEN 'scheduled' ELSE 'queued' END,
            enqueue_one.run_at, enqueue_one.max_attempts, enqueue_one.unique_key,
            enqueue_one.metadata, enqueue_one.limit_key,
            -- Limited when its task or its queue has limits (the primary key of pgqueue.limits).
            EXISTS (SELECT 1 FROM pgqueue.limits AS l
                    WHERE l.scope = 'task' AND l.name = enqueue_one.task)
            OR EXISTS (SELECT 1 FROM pgqueue.limits AS l
                       WHERE l.scope = 'queue' AND l.name = enqueue_one.queue)
        )
        ON CONFLICT (unique_key)
            WHERE unique_key IS NOT NULL
              AND state IN ('scheduled', 'queued', 'running', 'retrying')
            DO NOTHING
        RETURNING j.id, j.state INTO id, stored_state;
        IF id IS NOT NULL THEN
            duplicate := false;
            IF stored_state = 'queued' THEN
                PERFORM pg_notify('pgqueue_jobs', enqueue_one.queue);
            END IF;
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
            RAISE EXCEPTION 'pgqueue.enqueue_many: unique keys kept changing hands; retry'
                USING ERRCODE = '40001';
        END IF;
    END LOOP;
END
$$
