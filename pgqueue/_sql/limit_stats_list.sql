-- Every limit with its running, waiting and recent counts per key (the limit_stats view), for
-- `pgqueue status` and the metrics.
SELECT s.scope, s.name, s.key, s.concurrency_limit, s.rate_count, s.rate_seconds,
       s.running, s.waiting, s.started_1m, s.tokens
FROM pgqueue.limit_stats AS s
ORDER BY s.scope DESC, s.name, s.key
