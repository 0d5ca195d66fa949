-- The pgqueue.task_throughput view: per minute, queue and task over the last hour.
SELECT t.minute, t.queue, t.task, t.finished, t.succeeded, t.failed, t.cancelled, t.retries,
       t.failure_rate
FROM pgqueue.task_throughput AS t
ORDER BY t.minute, t.queue, t.task
