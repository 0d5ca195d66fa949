-- Puts back in the queue the jobs the database says worker $1 runs but the worker does not know
-- about ($2: the ids it runs or holds an unwritten outcome for): a claim committed but its answer
-- was lost (a network cut, a command_timeout). The attempt never started, so it is not counted.
-- The fetch loop runs it before its next claim after a failed one, when no claim of the worker
-- is in flight. Reads jobs_running_idx.
WITH released AS (
    UPDATE pgqueue.jobs AS j
    SET state = 'queued', attempts = j.attempts - 1, worker_id = NULL, started_at = NULL
    WHERE j.worker_id = $1::uuid AND j.state = 'running' AND j.id <> ALL($2::bigint[])
    RETURNING j.id
)
-- The jobs' trigger (0007_notify_triggers) wakes the workers of their queues.
SELECT r.id
FROM released AS r
