-- Claims tick $2 of schedule $1 by moving last_tick forward to it. Concurrent claims of the same
-- tick serialize on the row and only the first finds last_tick < $2, so run in the transaction
-- that enqueues the tick's job, each tick gets exactly one job.
UPDATE pgqueue.schedules AS s
SET last_tick = $2::timestamptz
WHERE s.name = $1 AND (s.last_tick IS NULL OR s.last_tick < $2::timestamptz)
RETURNING s.name
