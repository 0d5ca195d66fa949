-- pgqueue.claim_limited(queues, n, worker): claims up to n limited jobs (jobs.limited: their task
-- or queue has a row in pgqueue.limits) from `queues` for `worker`, as many as the limits allow
-- now, highest priority first; job_claim.sql never takes a limited job, so the unlimited claim
-- stays as it was (docs/limits.md).
--
-- Why a function: the limits are counts over every worker, so two claims must not both see
-- "one slot left" and both take it. Limited claims take turns on one transaction-scoped advisory
-- lock, and the counting statement runs after the lock is held: under READ COMMITTED each
-- statement of a function takes a new snapshot, so it sees every claim committed before ours
-- (the lock is released at commit, after the claimed rows are written). pg_try_advisory_xact_lock
-- never waits: a worker that finds another one claiming limited jobs gets back a row with id NULL
-- and wait_seconds 0.02 (try again soon) when limited jobs wait in its queues, and nothing else.
--
-- Running counts are the jobs in state 'running' (jobs_limited_running_idx, at most the sum of
-- the workers' concurrency), so a rescue, a cancel, a shutdown or a finished job frees its slot
-- by leaving 'running', with nothing else to update. A rate is a token bucket per (task, key)
-- and per queue (pgqueue.limit_buckets): rate_count / rate_seconds tokens a second, holding at
-- most `burst`, full when there is no row; a claim takes one token per job. When a group with
-- waiting jobs has no token left, the last row has id NULL and wait_seconds = the time until
-- its next token, so the worker claims again then rather than at its next poll.
--
-- metadata is the job's, as job_claim.sql returns it (the enqueuer's trace context, the rescue's
-- note of a lost attempt: docs/tracing.md), so a limited job reaches an instrumented worker alike.
--
-- Loaded by revision 0013_limits; a change is a new versioned file and a new revision, never an
-- edit of this one (docs/migrations.md, "SQL functions and views").
CREATE OR REPLACE FUNCTION pgqueue.claim_limited(queues text[], n integer, worker uuid)
RETURNS TABLE (
    id bigint, task text, queue text, args text, kwargs text, priority integer,
    attempts integer, max_attempts integer, enqueued_at timestamptz, metadata text,
    wait_seconds float8
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    IF n < 1 THEN
        RETURN;
    END IF;
    -- 'pgqueue.limits' as a 64-bit key: one lock for every limited claim of the database.
    IF NOT pg_try_advisory_xact_lock(7021880391127512064) THEN
        IF EXISTS (
            SELECT 1 FROM pgqueue.jobs AS j
            WHERE j.state = 'queued' AND j.limited AND j.queue = ANY (queues)
        ) THEN
            RETURN QUERY SELECT NULL::bigint, NULL::text, NULL::text, NULL::text, NULL::text,
                                NULL::integer, NULL::integer, NULL::integer, NULL::timestamptz,
                                NULL::text, 0.02::float8;
        END IF;
        RETURN;
    END IF;
    -- As job_claim.sql: a worker whose row is not 'running' claims nothing.
    IF EXISTS (SELECT 1 FROM pgqueue.workers AS w WHERE w.id = worker AND w.state <> 'running') THEN
        RETURN;
    END IF;

    -- One statement, a new snapshot: taken with the lock held.
    RETURN QUERY
    WITH groups AS MATERIALIZED (
        -- The (queue, task, key) groups with jobs waiting: per queue, a skip scan of
        -- jobs_limited_idx (one probe per group, however many jobs each holds).
        SELECT q.name AS queue, g.task, g.key
        FROM unnest(queues) AS q(name)
        CROSS JOIN LATERAL (
            WITH RECURSIVE walk AS (
                (SELECT j.task, coalesce(j.limit_key, '') AS key
                 FROM pgqueue.jobs AS j
                 WHERE j.state = 'queued' AND j.limited AND j.queue = q.name
                 ORDER BY j.task, coalesce(j.limit_key, '')
                 LIMIT 1)
                UNION ALL
                SELECT n.task, n.key
                FROM walk AS w
                CROSS JOIN LATERAL (
                    SELECT j.task, coalesce(j.limit_key, '') AS key
                    FROM pgqueue.jobs AS j
                    WHERE j.state = 'queued' AND j.limited AND j.queue = q.name
                      AND (j.task, coalesce(j.limit_key, '')) > (w.task, w.key)
                    ORDER BY j.task, coalesce(j.limit_key, '')
                    LIMIT 1
                ) AS n
            )
            SELECT walk.task, walk.key FROM walk
        ) AS g
    ),
    running AS (
        -- Every limited job running anywhere (jobs_limited_running_idx).
        SELECT j.queue, j.task, coalesce(j.limit_key, '') AS key, count(*)::integer AS n
        FROM pgqueue.jobs AS j
        WHERE j.state = 'running' AND j.limited
        GROUP BY 1, 2, 3
    ),
    scopes AS (
        SELECT DISTINCT 'task' AS scope, g.task AS name, g.key FROM groups AS g
        UNION
        SELECT DISTINCT 'queue', g.queue, '' FROM groups AS g
    ),
    measured AS (
        SELECT s.scope, s.name, s.key, l.concurrency, l.rate_count / l.rate_seconds AS rate,
               (SELECT coalesce(sum(r.n), 0) FROM running AS r
                WHERE (s.scope = 'task' AND r.task = s.name AND r.key = s.key)
                   OR (s.scope = 'queue' AND r.queue = s.name))::integer AS busy,
               -- The bucket refilled up to now; no row is a full bucket.
               CASE WHEN l.rate_count IS NOT NULL THEN
                   least(l.burst::float8, coalesce(
                       b.tokens + extract(epoch FROM now() - b.refilled_at)::float8
                                  * l.rate_count / l.rate_seconds,
                       l.burst::float8))
               END AS tokens
        FROM scopes AS s
        LEFT JOIN pgqueue.limits AS l ON l.scope = s.scope AND l.name = s.name
        LEFT JOIN pgqueue.limit_buckets AS b
            ON b.scope = s.scope AND b.name = s.name AND b.key = s.key
    ),
    room AS (
        -- What each scope lets start now: its free slots and its whole tokens (no limit: n).
        SELECT m.*, greatest(0, least(n, coalesce(m.concurrency - m.busy, n),
                                      coalesce(floor(m.tokens)::integer, n))) AS room
        FROM measured AS m
    ),
    candidates AS (
        SELECT c.id, c.priority, c.run_at, g.queue, g.task, g.key,
               t.room AS task_room, q.room AS queue_room
        FROM groups AS g
        JOIN room AS t ON t.scope = 'task' AND t.name = g.task AND t.key = g.key
        JOIN room AS q ON q.scope = 'queue' AND q.name = g.queue
        CROSS JOIN LATERAL (
            -- Per group, in claim order, at most what both its limits allow (jobs_limited_idx).
            SELECT j.id, j.priority, j.run_at
            FROM pgqueue.jobs AS j
            WHERE j.state = 'queued' AND j.limited AND j.queue = g.queue AND j.task = g.task
              AND coalesce(j.limit_key, '') = g.key
            ORDER BY j.priority DESC, j.run_at, j.id
            LIMIT least(t.room, q.room)
            FOR UPDATE SKIP LOCKED
        ) AS c
        WHERE t.room > 0 AND q.room > 0
    ),
    ranked AS (
        -- A (task, key) over several queues, a queue over several groups: no more than their
        -- room in all.
        SELECT c.*,
               row_number() OVER (PARTITION BY c.task, c.key
                                  ORDER BY c.priority DESC, c.run_at, c.id) AS in_group,
               row_number() OVER (PARTITION BY c.queue
                                  ORDER BY c.priority DESC, c.run_at, c.id) AS in_queue
        FROM candidates AS c
    ),
    chosen AS (
        SELECT r.id FROM ranked AS r
        WHERE r.in_group <= r.task_room AND r.in_queue <= r.queue_room
        ORDER BY r.priority DESC, r.run_at, r.id
        LIMIT n
    ),
    claimed AS (
        UPDATE pgqueue.jobs AS j
        SET state = 'running',
            attempts = j.attempts + 1,
            started_at = now(),
            worker_id = worker
        WHERE j.id = ANY (ARRAY(SELECT chosen.id FROM chosen))
        RETURNING j.id, j.task, j.queue, j.args::text AS args, j.kwargs::text AS kwargs,
                  j.priority, j.attempts, j.max_attempts, j.enqueued_at,
                  j.metadata::text AS metadata, coalesce(j.limit_key, '') AS key
    ),
    taken AS (
        SELECT 'task' AS scope, c.task AS name, c.key, count(*) AS n
        FROM claimed AS c GROUP BY c.task, c.key
        UNION ALL
        SELECT 'queue', c.queue, '', count(*) FROM claimed AS c GROUP BY c.queue
    ),
    left_over AS (
        -- Each rate-limited scope's tokens once one per claimed job is taken.
        SELECT r.scope, r.name, r.key, r.rate, r.tokens - coalesce(t.n, 0) AS tokens,
               t.n IS NOT NULL AS took
        FROM room AS r
        LEFT JOIN taken AS t ON t.scope = r.scope AND t.name = r.name AND t.key = r.key
        WHERE r.tokens IS NOT NULL
    ),
    spent AS (
        INSERT INTO pgqueue.limit_buckets AS b (scope, name, key, tokens, refilled_at)
        SELECT o.scope, o.name, o.key, o.tokens, now() FROM left_over AS o WHERE o.took
        ON CONFLICT (scope, name, key)
            DO UPDATE SET tokens = excluded.tokens, refilled_at = excluded.refilled_at
    )
    SELECT c.id, c.task, c.queue, c.args, c.kwargs, c.priority, c.attempts, c.max_attempts,
           c.enqueued_at, c.metadata, NULL::float8
    FROM claimed AS c
    UNION ALL
    -- The earliest next token of a bucket that holds waiting jobs back.
    SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           greatest(min((1 - o.tokens) / o.rate), 0.001)
    FROM left_over AS o
    WHERE o.tokens < 1
    HAVING count(*) > 0;
END
$$
