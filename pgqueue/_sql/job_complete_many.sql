-- Records the outcomes of many finished attempts of worker $9 in one statement (the worker buffers
-- them for a few milliseconds). Each row is guarded by state = 'running', the attempt number that
-- ran and the worker that ran it, so an outcome that arrives after a rescue, a cancel or a requeue
-- changes nothing. After a claim lost in a crash of PostgreSQL the same worker may claim the job
-- again under the same attempt number, which this guard cannot tell apart: the worker drops the
-- earlier attempt's unwritten outcome when the claim hands the job back (docs/reliability.md,
-- "Claims commit asynchronously").
-- Each row carries the transition as pgqueue/_transitions.py decided it: the state to write, run_in
-- (run_at = now() + run_in, database time; NULL keeps run_at), whether the attempt is given back
-- (a shutdown interrupted it) and whether the state is final (finished_at, as the CHECK of
-- 0006_finished_states requires). One fact only the database knows overrides it: a job whose
-- cancellation was requested is not sent round again; a retry or requeue of it ends cancelled.
-- The jobs' row trigger (jobs_notify_queued) wakes workers for jobs that go straight back to the
-- queue; the finished ones go to pgqueue.jobs_finished() (0016_finish_hooks), which wakes their
-- result waiters and resolves the jobs waiting on them.
-- The outcomes are MATERIALIZED and carry the expected state (and worker) as columns so the planner cannot
-- see 'running' and drive the join from jobs_running_idx (statistics taken while nothing ran say
-- it holds one row): that generic plan rescans the outcomes once per running job, seconds per
-- flush. This way every plan looks each outcome up by primary key.
WITH outcome AS MATERIALIZED (
    SELECT o.*, 'running'::text AS expected, $9::uuid AS worker
    FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::text[], $6::float8[],
                $7::bool[], $8::bool[])
        AS o(id, attempt, state, result, error, run_in, refund, finished)
),
updated AS (
    UPDATE pgqueue.jobs AS j
    SET state = CASE
            WHEN NOT o.finished AND j.cancel_requested_at IS NOT NULL THEN 'cancelled'
            ELSE o.state
        END,
        -- A shutdown interrupted the attempt: it does not count against max_attempts.
        attempts = CASE
            WHEN o.refund AND j.cancel_requested_at IS NULL THEN j.attempts - 1
            ELSE j.attempts
        END,
        result = o.result::jsonb,
        errors = CASE
            WHEN o.error IS NULL THEN j.errors
            ELSE j.errors || jsonb_build_array(jsonb_build_object('at', now()) || o.error::jsonb)
        END,
        run_at = CASE
            WHEN o.run_in IS NOT NULL AND j.cancel_requested_at IS NULL
                THEN now() + make_interval(secs => o.run_in)
            ELSE j.run_at
        END,
        finished_at = CASE WHEN o.finished OR j.cancel_requested_at IS NOT NULL THEN now() END,
        worker_id = NULL
    FROM outcome AS o
    WHERE j.id = o.id
      AND j.attempts = o.attempt
      AND j.state = o.expected
      AND j.worker_id = o.worker
    RETURNING j.id, j.finished_at IS NOT NULL AS finished
),
finish AS (
    SELECT pgqueue.jobs_finished(ARRAY(SELECT u.id FROM updated AS u WHERE u.finished))
)
SELECT (SELECT count(*) FROM updated) AS recorded
FROM finish
