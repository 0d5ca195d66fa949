-- For `pgqueue enqueue`: of the live running workers that serve queue $1 (running, a heartbeat
-- within their own ttl: alive as pgqueue.worker_stats says), how many there are, how many list
-- task $2 among the tasks they serve, and how many list no tasks (started before revision
-- 0010_worker_tasks, or no heartbeat since: their tasks are unknown, so no warning is given).
-- Reads the small workers table once per command; never on a hot path.
SELECT count(*) AS serving,
       count(*) FILTER (WHERE $2::text = ANY (w.tasks)) AS knowing,
       count(*) FILTER (WHERE cardinality(w.tasks) = 0) AS unknown
FROM pgqueue.workers AS w
WHERE w.state = 'running'
  AND w.last_heartbeat >= now() - w.heartbeat_ttl
  AND $1::text = ANY (w.queues)
