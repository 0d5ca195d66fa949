-- pgqueue.queue_stats: per queue, jobs ready, scheduled, running, retrying, dead, and finished in
-- the last 5 minutes, with the lag of the oldest ready job. Each part reads only its rows through
-- an index (jobs_claim_idx, jobs_due_idx, jobs_running_idx, jobs_finished_idx); history is never
-- scanned. Columns only ever appended (CREATE OR REPLACE VIEW can only append).
-- v2 (0014_workflows): `waiting`, the jobs waiting on their parents (jobs_waiting_idx).
-- Loaded by revision 0014_workflows; a change is a new versioned file and a new revision, never
-- an edit of this one (docs/migrations.md, "SQL functions and views").
CREATE OR REPLACE VIEW pgqueue.queue_stats AS
WITH ready AS (
    SELECT j.queue, count(*) AS ready, min(j.run_at) AS oldest_ready_at
    FROM pgqueue.jobs AS j
    WHERE j.state = 'queued'
    GROUP BY j.queue
),
waiting AS (
    SELECT j.queue,
           count(*) FILTER (WHERE j.state = 'scheduled') AS scheduled,
           count(*) FILTER (WHERE j.state = 'retrying') AS retrying
    FROM pgqueue.jobs AS j
    WHERE j.state IN ('scheduled', 'retrying')
    GROUP BY j.queue
),
running AS (
    SELECT j.queue, count(*) AS running
    FROM pgqueue.jobs AS j
    WHERE j.state = 'running'
    GROUP BY j.queue
),
dead AS (
    SELECT j.queue, count(*) AS dead
    FROM pgqueue.jobs AS j
    WHERE j.state = 'dead'
    GROUP BY j.queue
),
on_parents AS (
    SELECT j.queue, count(*) AS waiting
    FROM pgqueue.jobs AS j
    WHERE j.state = 'waiting'
    GROUP BY j.queue
),
recent AS (
    SELECT j.queue,
           count(*) FILTER (WHERE j.state = 'succeeded') AS succeeded_5m,
           count(*) FILTER (WHERE j.state = 'dead') AS failed_5m
    FROM pgqueue.jobs AS j
    WHERE j.state IN ('succeeded', 'dead') AND j.finished_at >= now() - interval '5 minutes'
    GROUP BY j.queue
),
queues AS (
    SELECT queue FROM ready
    UNION SELECT queue FROM waiting
    UNION SELECT queue FROM running
    UNION SELECT queue FROM dead
    UNION SELECT queue FROM recent
    UNION SELECT queue FROM on_parents
)
SELECT q.queue,
       coalesce(r.ready, 0) AS ready,
       coalesce(w.scheduled, 0) AS scheduled,
       coalesce(ru.running, 0) AS running,
       coalesce(w.retrying, 0) AS retrying,
       coalesce(d.dead, 0) AS dead,
       coalesce(re.succeeded_5m, 0) AS succeeded_5m,
       coalesce(re.failed_5m, 0) AS failed_5m,
       r.oldest_ready_at,
       coalesce(greatest(extract(epoch FROM now() - r.oldest_ready_at), 0), 0)::float8
           AS lag_seconds,
       coalesce(op.waiting, 0) AS waiting
FROM queues AS q
LEFT JOIN ready AS r USING (queue)
LEFT JOIN waiting AS w USING (queue)
LEFT JOIN running AS ru USING (queue)
LEFT JOIN dead AS d USING (queue)
LEFT JOIN recent AS re USING (queue)
LEFT JOIN on_parents AS op USING (queue)
