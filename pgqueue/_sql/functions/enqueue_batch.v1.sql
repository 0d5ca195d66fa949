-- pgqueue.enqueue_batch(task[], args[], kwargs[], queue[], priority[], run_at[], delay[],
-- max_attempts[], metadata[], limit_key[]): a batch of jobs without unique keys and without
-- dependencies, one typed array per column (revision 0017_enqueue_batch), for the asyncpg path of
-- app.enqueue_many. Element k of every array is job #k's field; an array may be NULL (every job
-- takes the default), else it has one element per task. Returns (ord, id, duplicate) per job in
-- input order, as pgqueue.enqueue_many does (duplicate is always false: no unique keys here).
-- The same row as pgqueue.enqueue_many v5 writes for the same job (tests/integration/
-- test_enqueue_paths_rows.py compares them column by column): the defaults of
-- pgqueue.enqueue_input (args [], kwargs {}, queue default, priority 0, metadata {}, run_at from
-- delay, a JSON null taken as absent), the state rule (scheduled when run_at is later than now(),
-- else queued), limited when the task or the queue has a row in pgqueue.limits, and the wake-up:
-- one pg_notify on pgqueue_jobs per queue with queued rows among those inserted.
-- Why a third function: enqueue_many checks every field of every job in its JSON array before
-- writing (jsonb_array_elements, a dozen lookups and three regexes per job) and parses the array
-- again per pass (jsonb_to_record): three times the cost of a binary COPY of the same rows. Here
-- the arrays come typed (asyncpg sends them in binary) and the common case, every job valid, pays
-- only the table's CHECK and NOT NULL constraints (0004, 0006, 0012, 0013), which hold the same
-- rules as enqueue_many's checks; args that are not a JSON array and kwargs that are not an
-- object are written as NULL, so their NOT NULL constraint fails too. When a constraint fails, the
-- batch goes to pgqueue.enqueue_many as the JSON array of the same jobs, whose checks name the
-- first bad job with the message every path gives ("pgqueue.enqueue: job #N ..."); the insert
-- was in a subtransaction (the EXCEPTION block), rolled back before that.
-- SECURITY DEFINER with a fixed search_path, as enqueue_many (0004): a producer role needs
-- EXECUTE only (docs/security.md).
-- A change is a new versioned file and a new revision, never an edit of this one
-- (docs/migrations.md, "SQL functions and views").
CREATE OR REPLACE FUNCTION pgqueue.enqueue_batch(
    task text[],
    args jsonb[] DEFAULT NULL,
    kwargs jsonb[] DEFAULT NULL,
    queue text[] DEFAULT NULL,
    priority integer[] DEFAULT NULL,
    run_at timestamptz[] DEFAULT NULL,
    delay double precision[] DEFAULT NULL,
    max_attempts integer[] DEFAULT NULL,
    metadata jsonb[] DEFAULT NULL,
    limit_key text[] DEFAULT NULL
)
RETURNS TABLE (ord bigint, id bigint, duplicate boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    jobs integer := cardinality(enqueue_batch.task);
    limited_tasks text[];
    limited_queues text[];
    ids bigint[];
    woken text[];
BEGIN
    IF jobs IS NULL THEN
        RAISE EXCEPTION 'pgqueue.enqueue_batch: task must be an array of task names, one per job'
            USING ERRCODE = '22023';
    END IF;
    IF cardinality(enqueue_batch.args) <> jobs OR cardinality(enqueue_batch.kwargs) <> jobs
       OR cardinality(enqueue_batch.queue) <> jobs OR cardinality(enqueue_batch.priority) <> jobs
       OR cardinality(enqueue_batch.run_at) <> jobs OR cardinality(enqueue_batch.delay) <> jobs
       OR cardinality(enqueue_batch.max_attempts) <> jobs
       OR cardinality(enqueue_batch.metadata) <> jobs
       OR cardinality(enqueue_batch.limit_key) <> jobs THEN
        RAISE EXCEPTION 'pgqueue.enqueue_batch: every array must be NULL or have one element '
                        'per task (%)', jobs
            USING ERRCODE = '22023';
    END IF;
    IF jobs = 0 THEN
        RETURN;
    END IF;

    -- The tasks and queues that have limits, read once (as enqueue_many).
    SELECT coalesce(array_agg(l.name) FILTER (WHERE l.scope = 'task'), '{}'),
           coalesce(array_agg(l.name) FILTER (WHERE l.scope = 'queue'), '{}')
    INTO limited_tasks, limited_queues
    FROM pgqueue.limits AS l;

    BEGIN
        -- The one INSERT, in input order: identity values are drawn in insertion order, so the
        -- k-th id is the k-th job's.
        WITH inserted AS (
            INSERT INTO pgqueue.jobs AS j
                (task, args, kwargs, queue, priority, state, run_at, max_attempts, metadata,
                 limit_key, limited)
            SELECT b.task, b.args, b.kwargs, b.queue, b.priority,
                   CASE WHEN b.run_at > now() THEN 'scheduled' ELSE 'queued' END,
                   b.run_at, b.max_attempts, b.metadata, b.limit_key,
                   b.task = ANY (limited_tasks) OR b.queue = ANY (limited_queues)
            FROM (
                SELECT u.n, u.task,
                       -- Not an array (or not an object): NULL, refused by NOT NULL.
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
                FROM unnest(enqueue_batch.task, enqueue_batch.args, enqueue_batch.kwargs,
                            enqueue_batch.queue, enqueue_batch.priority, enqueue_batch.run_at,
                            enqueue_batch.delay, enqueue_batch.max_attempts,
                            enqueue_batch.metadata, enqueue_batch.limit_key)
                    WITH ORDINALITY AS u(task, args, kwargs, queue, priority, run_at, delay,
                                         max_attempts, metadata, limit_key, n)
            ) AS b
            ORDER BY b.n
            RETURNING j.id, j.queue, j.state
        )
        SELECT array_agg(ins.id ORDER BY ins.id),
               -- The queues to wake: those with a queued row among the inserted.
               ARRAY(SELECT DISTINCT w.queue FROM inserted AS w WHERE w.state = 'queued')
        INTO ids, woken
        FROM inserted AS ins;
    EXCEPTION WHEN check_violation OR not_null_violation THEN
        -- A bad job: enqueue_many's checks name the first one, with its message.
        PERFORM pgqueue.enqueue_many(jsonb_agg(jsonb_build_object(
            'task', u.task, 'args', u.args, 'kwargs', u.kwargs, 'queue', u.queue,
            'priority', u.priority, 'run_at', u.run_at, 'delay', u.delay,
            'max_attempts', u.max_attempts, 'metadata', u.metadata, 'limit_key', u.limit_key
        ) ORDER BY u.n))
        FROM unnest(enqueue_batch.task, enqueue_batch.args, enqueue_batch.kwargs,
                    enqueue_batch.queue, enqueue_batch.priority, enqueue_batch.run_at,
                    enqueue_batch.delay, enqueue_batch.max_attempts, enqueue_batch.metadata,
                    enqueue_batch.limit_key)
            WITH ORDINALITY AS u(task, args, kwargs, queue, priority, run_at, delay,
                                 max_attempts, metadata, limit_key, n);
        -- Its checks passed (cannot happen for a constraint they mirror): the original error,
        -- which rolls back what that call wrote.
        RAISE;
    END;

    -- One wake-up per queue, sent at commit, never on rollback (as enqueue_many).
    PERFORM pg_notify('pgqueue_jobs', w.queue) FROM unnest(woken) AS w(queue);

    RETURN QUERY SELECT r.n, r.id, false FROM unnest(ids) WITH ORDINALITY AS r(id, n);
END
$$
