-- Stores a running job's progress report, only while the reporting worker still holds the job,
-- and tells watchers that the job changed (pgqueue_progress). seq numbers the reports of a job;
-- `recent` keeps the last 20 (oldest first, this one last) so a watcher that reads the row after
-- several quick reports still gets each of them, in order. The notification carries only the
-- job id: anyone who can connect may LISTEN (or NOTIFY), so the message stays in the table, where
-- privileges apply, and watchers read it from there.
WITH updated AS (
    UPDATE pgqueue.jobs AS j
    SET progress = (
        SELECT r.report || jsonb_build_object('recent', (
            SELECT jsonb_agg(h.entry ORDER BY h.n)
            FROM jsonb_array_elements(
                coalesce(j.progress -> 'recent', '[]'::jsonb) || jsonb_build_array(r.report)
            ) WITH ORDINALITY AS h(entry, n)
            WHERE h.n > jsonb_array_length(coalesce(j.progress -> 'recent', '[]'::jsonb)) + 1 - 20
        ))
        FROM (
            SELECT jsonb_build_object(
                'value', $2::float8,
                'message', $3::text,
                'seq', coalesce((j.progress ->> 'seq')::bigint, 0) + 1,
                'at', now()
            ) AS report
        ) AS r
    )
    WHERE j.id = $1 AND j.state = 'running' AND j.worker_id = $4::uuid
    RETURNING j.id, j.progress
)
SELECT u.progress::text AS progress, pg_notify('pgqueue_progress', u.id::text)
FROM updated AS u
