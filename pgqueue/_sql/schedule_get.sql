-- Where periodic schedule $1 stands: since when it exists and its last enqueued tick.
SELECT s.registered_at, s.last_tick
FROM pgqueue.schedules AS s
WHERE s.name = $1
