-- Every periodic schedule the workers registered (`pgqueue periodic list`).
SELECT s.name, s.task, s.cron, s.timezone, s.registered_at, s.updated_at, s.last_tick
FROM pgqueue.schedules AS s
ORDER BY s.name
