-- Stores a running job's progress report and pushes it to watchers (pgqueue_progress), only
-- while the reporting worker still holds the job. seq numbers the reports of a job so watchers
-- can order them and drop ones they already saw by polling.
WITH updated AS (
    UPDATE pgqueue.jobs AS j
    SET progress = jsonb_build_object(
        'value', $2::float8,
        'message', $3::text,
        'seq', coalesce((j.progress ->> 'seq')::bigint, 0) + 1,
        'at', now()
    )
    WHERE j.id = $1 AND j.state = 'running' AND j.worker_id = $4::uuid
    RETURNING j.id, j.progress
)
SELECT u.progress::text AS progress,
       pg_notify('pgqueue_progress', (jsonb_build_object('job_id', u.id) || u.progress)::text)
FROM updated AS u
