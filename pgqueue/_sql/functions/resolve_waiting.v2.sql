-- pgqueue.resolve_waiting(candidates, failed): decides the 'waiting' jobs among `candidates`
-- whose parents (pgqueue.job_dependencies) allow it. `failed` are the parents that have just
-- ended dead or cancelled (the statement the trigger runs for, or at enqueue the parents given by
-- id that had already failed): a child of one of them, on an edge that needs success
-- (on_parent_failure = 'cancel'), is cancelled with the reason as its last error, and so is
-- everything waiting on it that needs success, transitively, in one statement (a trigger per
-- level would recurse once per link of a 1,000-job chain). A failure is acted on when it
-- happens, so only those parents are looked at: a group callback's 10,000 edges are not read on
-- every member's completion. A child whose every parent succeeded (or, for an edge with
-- on_parent_failure = 'run', finished) is queued, or scheduled if its run_at is still ahead; the
-- check walks the child's parents from the last one (members are claimed, so finish, roughly in
-- order: the last ones are the likeliest still to run), and stops at the first unfinished one.
-- Called where jobs finish (pgqueue.jobs_finished(), the hook of every statement that finishes
-- jobs) and by pgqueue.enqueue_many for parents that finished before the child was enqueued;
-- never polled. v2 (0016_finish_hooks): the jobs it cancels go to pgqueue.jobs_finished() like
-- any others (v1 relied on the jobs' statement triggers, which 0016 drops).
-- The race of two parents finishing at once on two workers: the children are locked FOR UPDATE
-- first, in id order, and only then, in later statements (a fresh snapshot each, READ
-- COMMITTED), are their parents read. The second completion waits for the first to commit and
-- then sees both parents finished, so exactly one of them queues the child, never none.
-- SECURITY DEFINER with a fixed search_path: a worker role needs no grant on job_dependencies.
-- Loaded by revision 0016_finish_hooks; a change is a new versioned file and a new revision.
CREATE OR REPLACE FUNCTION pgqueue.resolve_waiting(candidates bigint[], failed bigint[])
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    locked bigint[];
    gone bigint[];
BEGIN
    SELECT array_agg(w.id) INTO locked
    FROM (
        SELECT j.id FROM pgqueue.jobs AS j
        WHERE j.id = ANY (candidates) AND j.state = 'waiting'
        ORDER BY j.id
        FOR UPDATE
    ) AS w;
    IF locked IS NULL THEN
        RETURN;
    END IF;

    -- The cancelled are finished: their completion notices and what waits on them (an edge with
    -- on_parent_failure = 'run' queues its child) go through pgqueue.jobs_finished(), which calls
    -- this function again for their children.
    WITH RECURSIVE doomed (id, culprit, culprit_state) AS (
        SELECT f.* FROM (
            -- The first failed parent (in the child's order) is the one named.
            SELECT DISTINCT ON (d.child_id) d.child_id, p.id, p.state
            FROM pgqueue.job_dependencies AS d
            JOIN pgqueue.jobs AS p ON p.id = d.parent_id
            WHERE d.parent_id = ANY (failed)
              AND d.child_id = ANY (locked)
              AND d.needs_success
              AND p.state IN ('dead', 'cancelled')
            ORDER BY d.child_id, d.ord
        ) AS f
        UNION
        SELECT d.child_id, x.id, 'cancelled'
        FROM doomed AS x
        JOIN pgqueue.job_dependencies AS d ON d.parent_id = x.id
        JOIN pgqueue.jobs AS c ON c.id = d.child_id
        WHERE d.needs_success AND c.state = 'waiting'
    ),
    cancelled AS (
        UPDATE pgqueue.jobs AS j
        SET state = 'cancelled',
            finished_at = now(),
            errors = j.errors || jsonb_build_array(jsonb_build_object(
                'at', now(), 'attempt', j.attempts, 'kind', 'dependency', 'type', 'ParentFailed',
                'message', format('parent job %s ended %s', x.culprit, x.culprit_state),
                'parent_id', x.culprit, 'traceback', NULL
            ))
        FROM doomed AS x
        WHERE j.id = x.id AND j.state = 'waiting'
        RETURNING j.id
    )
    SELECT array_agg(c.id) INTO gone FROM cancelled AS c;
    IF gone IS NOT NULL THEN
        PERFORM pgqueue.jobs_finished(gone);
    END IF;

    -- clock_timestamp(), not now(): the transaction that finishes the last parent may have
    -- begun before the child's own (whose now() is its run_at); its now() would call a child
    -- due this instant 'scheduled' and leave it to the next promotion.
    UPDATE pgqueue.jobs AS j
    SET state = CASE WHEN j.run_at > clock_timestamp() THEN 'scheduled' ELSE 'queued' END
    WHERE j.id = ANY (locked)
      AND j.state = 'waiting'
      AND (
          SELECT d.ord
          FROM pgqueue.job_dependencies AS d
          JOIN pgqueue.jobs AS p ON p.id = d.parent_id
          WHERE d.child_id = j.id
            AND p.state <> 'succeeded'
            AND (d.needs_success OR p.state NOT IN ('dead', 'cancelled'))
          ORDER BY d.ord DESC
          LIMIT 1
      ) IS NULL;
END
$$
