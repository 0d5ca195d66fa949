-- The running jobs of worker $1 whose cancellation was requested: the heartbeat's backstop for a
-- missed pgqueue_cancel notification (or a worker in poll-only mode). Reads jobs_running_idx.
SELECT j.id
FROM pgqueue.jobs AS j
WHERE j.worker_id = $1::uuid AND j.state = 'running' AND j.cancel_requested_at IS NOT NULL
