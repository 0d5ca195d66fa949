-- pgqueue.enqueue_many(jobs): the one insert of every enqueue path (pgqueue.enqueue, the asyncpg
-- and SQLAlchemy paths, the Django backend, periodic ticks all end here), so they all write the
-- same row. The batch is checked whole before anything is written (the first bad job is named).
-- One INSERT, run in rounds: the first round takes every job without a unique key and the first
-- job of each key; a key held by a queued-or-running job (the partial unique index and ON
-- CONFLICT DO NOTHING, never advisory locks) gets the holder's id and duplicate = true, and a
-- later round inserts the keys whose holder finished in between. SECURITY DEFINER with a fixed
-- search_path, so a producer role needs EXECUTE and no privilege on pgqueue.jobs (0004).
-- v2 (revision 0012_job_metadata): each job may carry "metadata", a JSON object stored in
-- jobs.metadata and handed to the worker with the claim (the trace context of the enqueuing code:
-- docs/tracing.md).
-- v3 (revision 0013_limits): a job's limit_key is checked like unique_key and stored, and a job
-- whose task or queue has a row in pgqueue.limits is marked limited (the claim takes it only
-- through pgqueue.claim_limited, docs/limits.md).
-- v4 (revision 0014_workflows, docs/workflows.md): a job with "depends_on" (ids of existing
-- jobs) or "depends_on_batch" (positions of earlier jobs in this batch: a chain or a group's
-- callback in one call) is inserted 'waiting', outside the claim index, with one
-- pgqueue.job_dependencies row per parent; pgqueue.resolve_waiting() then queues (or cancels)
-- the ones whose parents have already finished, and the jobs' trigger resolves the others when
-- their parents finish. The parents are locked FOR SHARE first: a parent's completion committing
-- meanwhile either happened before (we see it finished) or waits for our commit (and its trigger
-- sees our rows).
-- v5 (revision 0015_enqueue_fast): the wake-up is sent here, one pg_notify on pgqueue_jobs per
-- queue with queued rows among those inserted (what the INSERT trigger jobs_notify_inserted sent
-- until then; the trigger, a fifth of a 1,000-job INSERT, is gone). pgqueue.enqueue_one writes the
-- same row for one job without dependencies, and sends the same wake-up.
-- A change is a new file (enqueue_many.v6.sql) and a new revision, never an edit of this one
-- (docs/migrations.md, "SQL functions and views").
CREATE OR REPLACE FUNCTION pgqueue.enqueue_many(jobs jsonb)
RETURNS TABLE (ord bigint, id bigint, duplicate boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    problem text;
    keyed boolean;
    first_round boolean := true;
    pending bigint[] := '{}';
    new_n bigint[] := '{}';
    new_id bigint[] := '{}';
    found_n bigint[] := '{}';
    found_id bigint[] := '{}';
    got_n bigint[];
    got_id bigint[];
    rounds integer := 0;
    limited_tasks text[];
    limited_queues text[];
    has_parents boolean;
    parents bigint[];
    out_n bigint[];
    out_id bigint[];
    out_dup boolean[];
    ids bigint[];
    woken text[] := '{}';
    got_woken text[];
BEGIN
    IF jobs IS NULL OR jsonb_typeof(jobs) <> 'array' THEN
        RAISE EXCEPTION 'pgqueue.enqueue_many: jobs must be a JSON array of job objects'
            USING ERRCODE = '22023';
    END IF;

    -- Reject the whole batch, naming the first bad job, before anything is written.
    SELECT format('pgqueue.enqueue: job #%s %s', v.n, v.problem) INTO problem
    FROM (
        SELECT e.n, CASE
            WHEN jsonb_typeof(e.job) <> 'object' THEN 'must be a JSON object'
            WHEN jsonb_typeof(e.job -> 'task') IS DISTINCT FROM 'string' OR e.job ->> 'task' = ''
                THEN 'needs a non-empty "task" name'
            WHEN octet_length(e.job ->> 'task') > 200
                THEN format('has a "task" name of %s bytes: the limit is 200 bytes (UTF-8)',
                            octet_length(e.job ->> 'task'))
            WHEN (e.job ->> 'task') ~ '[\u0001-\u001f\u007f-\u009f]'
                THEN 'has a control character in its "task" name: names must be printable'
            WHEN jsonb_typeof(e.job -> 'args') NOT IN ('array', 'null')
                THEN 'has "args" that is not a JSON array'
            WHEN jsonb_typeof(e.job -> 'kwargs') NOT IN ('object', 'null')
                THEN 'has "kwargs" that is not a JSON object'
            WHEN jsonb_typeof(e.job -> 'queue') NOT IN ('string', 'null') OR e.job ->> 'queue' = ''
                THEN 'has an empty or non-text "queue"'
            WHEN octet_length(e.job ->> 'queue') > 200
                THEN format('has a "queue" name of %s bytes: the limit is 200 bytes (UTF-8)',
                            octet_length(e.job ->> 'queue'))
            WHEN (e.job ->> 'queue') ~ '[\u0001-\u001f\u007f-\u009f]'
                THEN 'has a control character in its "queue" name: names must be printable'
            WHEN jsonb_typeof(e.job -> 'priority') NOT IN ('number', 'null')
                THEN 'has a non-numeric "priority"'
            WHEN jsonb_typeof(e.job -> 'max_attempts') NOT IN ('number', 'null')
                OR (e.job ->> 'max_attempts')::numeric < 1
                THEN 'has "max_attempts" below 1'
            WHEN jsonb_typeof(e.job -> 'unique_key') NOT IN ('string', 'null')
                OR e.job ->> 'unique_key' = ''
                THEN 'has an empty or non-text "unique_key"'
            WHEN octet_length(e.job ->> 'unique_key') > 1000
                THEN format('has a "unique_key" of %s bytes: the limit is 1000 bytes (UTF-8)',
                            octet_length(e.job ->> 'unique_key'))
            WHEN (e.job ->> 'unique_key') ~ '[\u0001-\u001f\u007f-\u009f]'
                THEN 'has a control character in its "unique_key": keys must be printable'
            WHEN jsonb_typeof(e.job -> 'metadata') NOT IN ('object', 'null')
                THEN 'has "metadata" that is not a JSON object'
            WHEN jsonb_typeof(e.job -> 'limit_key') NOT IN ('string', 'null')
                OR e.job ->> 'limit_key' = ''
                THEN 'has an empty or non-text "limit_key"'
            WHEN octet_length(e.job ->> 'limit_key') > 1000
                THEN format('has a "limit_key" of %s bytes: the limit is 1000 bytes (UTF-8)',
                            octet_length(e.job ->> 'limit_key'))
            WHEN (e.job ->> 'limit_key') ~ '[\u0001-\u001f\u007f-\u009f]'
                THEN 'has a control character in its "limit_key": keys must be printable'
            WHEN jsonb_typeof(e.job -> 'depends_on') NOT IN ('array', 'null')
                OR EXISTS (SELECT 1 FROM jsonb_array_elements(
                               CASE jsonb_typeof(e.job -> 'depends_on')
                                   WHEN 'array' THEN e.job -> 'depends_on' END) AS d(v)
                           WHERE jsonb_typeof(d.v) <> 'number' OR d.v::numeric <> trunc(d.v::numeric))
                THEN 'has "depends_on" that is not a JSON array of job ids'
            WHEN jsonb_typeof(e.job -> 'depends_on_batch') NOT IN ('array', 'null')
                OR EXISTS (SELECT 1 FROM jsonb_array_elements(
                               CASE jsonb_typeof(e.job -> 'depends_on_batch')
                                   WHEN 'array' THEN e.job -> 'depends_on_batch' END) AS d(v)
                           WHERE jsonb_typeof(d.v) <> 'number' OR d.v::numeric <> trunc(d.v::numeric)
                              OR d.v::numeric < 1 OR d.v::numeric >= e.n)
                -- Earlier jobs only: a cycle cannot be written.
                THEN 'has "depends_on_batch" that does not name earlier jobs of the batch'
            WHEN jsonb_typeof(e.job -> 'on_parent_failure') NOT IN ('string', 'null')
                OR e.job ->> 'on_parent_failure' NOT IN ('cancel', 'run')
                THEN 'has "on_parent_failure" other than "cancel" or "run"'
            WHEN jsonb_typeof(e.job -> 'unique_key') = 'string'
                AND (jsonb_array_length(coalesce(nullif(e.job -> 'depends_on', 'null'), '[]')) > 0
                     OR jsonb_array_length(coalesce(nullif(e.job -> 'depends_on_batch', 'null'), '[]')) > 0)
                -- A waiting job does not hold its key (jobs_unique_key_idx): refused, not ignored.
                THEN 'has both a "unique_key" and dependencies, which cannot be combined'
        END AS problem
        FROM jsonb_array_elements(jobs) WITH ORDINALITY AS e(job, n)
    ) AS v
    WHERE v.problem IS NOT NULL
    ORDER BY v.n
    LIMIT 1;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION '%', problem USING ERRCODE = '22023';
    END IF;

    -- Most batches name no parent: one look at the JSON spares them two more passes over
    -- enqueue_input (benchmarks: single enqueue).
    parents := '{}';
    has_parents := false;
    IF EXISTS (
        SELECT 1 FROM jsonb_array_elements(jobs) AS e(job)
        WHERE jsonb_typeof(e.job -> 'depends_on') = 'array'
           OR jsonb_typeof(e.job -> 'depends_on_batch') = 'array'
    ) THEN
        parents := ARRAY(
            SELECT DISTINCT d.parent
            FROM pgqueue.enqueue_input(jobs) AS i
            CROSS JOIN LATERAL unnest(i.depends_on) AS d(parent)
        );
        has_parents := cardinality(parents) > 0 OR EXISTS (
            SELECT 1 FROM pgqueue.enqueue_input(jobs) AS i WHERE cardinality(i.depends_on_batch) > 0
        );
    END IF;
    IF cardinality(parents) > 0 THEN
        -- In id order, so two batches sharing parents never wait on each other in a cycle.
        PERFORM 1 FROM pgqueue.jobs AS p WHERE p.id = ANY (parents) ORDER BY p.id FOR SHARE;
        SELECT format('pgqueue.enqueue: job #%s depends on job %s, which does not exist',
                      i.n, d.parent)
        INTO problem
        FROM pgqueue.enqueue_input(jobs) AS i CROSS JOIN LATERAL unnest(i.depends_on) AS d(parent)
        WHERE NOT EXISTS (SELECT 1 FROM pgqueue.jobs AS p WHERE p.id = d.parent)
        ORDER BY i.n
        LIMIT 1;
        IF problem IS NOT NULL THEN
            RAISE EXCEPTION '%', problem USING ERRCODE = '23503';
        END IF;
    END IF;

    keyed := EXISTS (
        SELECT 1 FROM jsonb_array_elements(jobs) AS e(job)
        WHERE jsonb_typeof(e.job -> 'unique_key') = 'string'
    );
    IF keyed THEN
        -- The first job of each key in the batch is the one that may be inserted.
        SELECT coalesce(array_agg(l.n), '{}') INTO pending
        FROM (
            SELECT DISTINCT ON (i.unique_key) i.n
            FROM pgqueue.enqueue_input(jobs) AS i
            WHERE i.unique_key IS NOT NULL
            ORDER BY i.unique_key, i.n
        ) AS l;
    END IF;

    -- The tasks and queues that have limits, read once: a subquery per inserted row in the
    -- INSERT below doubled the cost of a one-job call (benchmarks: single enqueue).
    SELECT coalesce(array_agg(l.name) FILTER (WHERE l.scope = 'task'), '{}'),
           coalesce(array_agg(l.name) FILTER (WHERE l.scope = 'queue'), '{}')
    INTO limited_tasks, limited_queues
    FROM pgqueue.limits AS l;

    LOOP
        -- The one INSERT. Keys in one global order, so two batches sharing keys never wait on
        -- each other in a cycle; jobs without a key keep their input order, and identity values
        -- are drawn in insertion order, so their ids map back to them by rank.
        WITH batch AS (
            SELECT i.* FROM pgqueue.enqueue_input(jobs) AS i
            WHERE (first_round AND i.unique_key IS NULL) OR i.n = ANY (pending)
        ),
        inserted AS (
            INSERT INTO pgqueue.jobs AS j
                (task, args, kwargs, queue, priority, state, run_at, max_attempts, unique_key,
                 metadata, limit_key, limited)
            SELECT b.task, b.args, b.kwargs, b.queue, b.priority,
                   CASE WHEN cardinality(b.depends_on) > 0 OR cardinality(b.depends_on_batch) > 0
                            THEN 'waiting'
                        WHEN b.run_at > now() THEN 'scheduled' ELSE 'queued' END,
                   b.run_at, b.max_attempts, b.unique_key, b.metadata, b.limit_key,
                   -- Limited when its task or its queue has limits (read once, above).
                   b.task = ANY (limited_tasks) OR b.queue = ANY (limited_queues)
            FROM batch AS b
            ORDER BY b.unique_key COLLATE "C" NULLS LAST, b.n
            ON CONFLICT (unique_key)
                WHERE unique_key IS NOT NULL
                  AND state IN ('scheduled', 'queued', 'running', 'retrying')
                DO NOTHING
            RETURNING j.id, j.unique_key, j.queue, j.state
        ),
        matched AS (
            SELECT b.n, ins.id
            FROM inserted AS ins JOIN batch AS b ON b.unique_key = ins.unique_key
            WHERE ins.unique_key IS NOT NULL
            UNION ALL
            -- Without a key, the k-th id is the k-th job's: two sorted arrays zipped, not a join
            -- (the planner cannot estimate these rows and would compare every pair).
            SELECT z.n, z.id
            FROM unnest(
                ARRAY(SELECT b.n FROM batch AS b WHERE b.unique_key IS NULL ORDER BY b.n),
                ARRAY(SELECT ins.id FROM inserted AS ins WHERE ins.unique_key IS NULL ORDER BY ins.id)
            ) AS z(n, id)
        )
        SELECT coalesce(array_agg(m.n), '{}'), coalesce(array_agg(m.id), '{}'),
               -- The queues to wake: those with a queued row among the inserted.
               ARRAY(SELECT DISTINCT ins.queue FROM inserted AS ins WHERE ins.state = 'queued')
        INTO got_n, got_id, got_woken
        FROM matched AS m;
        first_round := false;
        woken := woken || got_woken;
        new_n := new_n || got_n;
        new_id := new_id || got_id;
        pending := ARRAY(SELECT p FROM unnest(pending) AS p WHERE p <> ALL (got_n));
        EXIT WHEN cardinality(pending) = 0;

        rounds := rounds + 1;
        -- A new statement takes a new snapshot: it sees the job we conflicted with, committed
        -- by then (the INSERT waited for its transaction).
        SELECT coalesce(array_agg(i.n), '{}'), coalesce(array_agg(a.id), '{}')
        INTO got_n, got_id
        FROM pgqueue.enqueue_input(jobs) AS i
        JOIN pgqueue.jobs AS a
            ON a.unique_key = i.unique_key
           AND a.state IN ('scheduled', 'queued', 'running', 'retrying')
        WHERE i.n = ANY (pending);
        found_n := found_n || got_n;
        found_id := found_id || got_id;
        pending := ARRAY(SELECT p FROM unnest(pending) AS p WHERE p <> ALL (got_n));
        EXIT WHEN cardinality(pending) = 0;
        IF rounds >= 50 THEN
            RAISE EXCEPTION 'pgqueue.enqueue_many: unique keys kept changing hands; retry'
                USING ERRCODE = '40001';
        END IF;
        -- Left pending: the job holding the key finished in between, so the key is free again.
    END LOOP;

    IF NOT keyed THEN
        out_n := new_n;
        out_id := new_id;
        out_dup := array_fill(false, ARRAY[cardinality(new_n)]);
    ELSE
    -- Within one batch, a key's later jobs are duplicates of its first.
    WITH resolved AS (
        SELECT r.n, r.id, false AS dup FROM unnest(new_n, new_id) AS r(n, id)
        UNION ALL
        SELECT r.n, r.id, true AS dup FROM unnest(found_n, found_id) AS r(n, id)
    ),
    input AS (
        SELECT i.n, i.unique_key FROM pgqueue.enqueue_input(jobs) AS i
    ),
    leader AS (
        SELECT DISTINCT ON (i.unique_key) i.unique_key, i.n
        FROM input AS i
        WHERE i.unique_key IS NOT NULL
        ORDER BY i.unique_key, i.n
    )
    SELECT array_agg(i.n), array_agg(coalesce(own.id, held.id)), array_agg(coalesce(own.dup, true))
    INTO out_n, out_id, out_dup
    FROM input AS i
    LEFT JOIN resolved AS own ON own.n = i.n
    LEFT JOIN leader AS l ON l.unique_key = i.unique_key
    LEFT JOIN resolved AS held ON held.n = l.n;
    END IF;

    IF has_parents THEN
        -- The batch's ids by position (every position has one), so a reference is a subscript,
        -- not a join the planner would guess wrong on 10,000 rows.
        ids := ARRAY(SELECT r.id FROM unnest(out_n, out_id) AS r(n, id) ORDER BY r.n);
        -- One row per parent, numbered: depends_on first, then depends_on_batch, in the order
        -- given (the order of current_job().parent_results()). A job with dependencies never has
        -- a unique key, so it is never a duplicate: each is a new row.
        INSERT INTO pgqueue.job_dependencies (child_id, ord, parent_id, needs_success)
        SELECT ids[i.n], p.ord, p.parent_id, i.on_parent_failure = 'cancel'
        FROM pgqueue.enqueue_input(jobs) AS i
        CROSS JOIN LATERAL (
            SELECT d.ord, d.parent AS parent_id
            FROM unnest(i.depends_on) WITH ORDINALITY AS d(parent, ord)
            UNION ALL
            SELECT coalesce(cardinality(i.depends_on), 0) + r.ord, ids[r.ref]
            FROM unnest(i.depends_on_batch) WITH ORDINALITY AS r(ref, ord)
        ) AS p;
        -- Parents given by id may have finished already: those children resolve now (and what
        -- waits on them in this batch, if one is cancelled). A parent of this batch is not final.
        IF cardinality(parents) > 0 THEN
            PERFORM pgqueue.resolve_waiting(
                ARRAY(
                    SELECT ids[i.n] FROM pgqueue.enqueue_input(jobs) AS i
                    WHERE cardinality(i.depends_on) > 0
                ),
                ARRAY(
                    SELECT p.id FROM pgqueue.jobs AS p
                    WHERE p.id = ANY (parents) AND p.state IN ('dead', 'cancelled')
                )
            );
        END IF;
    END IF;

    -- One wake-up per queue (PostgreSQL folds identical ones of a transaction anyway), sent at
    -- commit, never on rollback: the trigger's NOTIFY, moved here.
    PERFORM pg_notify('pgqueue_jobs', w.queue) FROM (SELECT DISTINCT unnest(woken) AS queue) AS w;

    RETURN QUERY SELECT r.n, r.id, r.dup FROM unnest(out_n, out_id, out_dup) AS r(n, id, dup)
        ORDER BY r.n;
END
$$
