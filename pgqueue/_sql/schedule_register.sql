-- Records a periodic schedule a worker knows about. A new schedule starts counting ticks from
-- $5 (registered_at), so it does not run for ticks before it existed; an existing one keeps its
-- last tick, so a restart or a redeploy never loses or repeats a tick.
INSERT INTO pgqueue.schedules AS s (name, task, cron, timezone, registered_at, updated_at)
VALUES ($1, $2, $3, $4, $5::timestamptz, now())
ON CONFLICT (name) DO UPDATE
SET task = excluded.task,
    cron = excluded.cron,
    timezone = excluded.timezone,
    updated_at = now()
RETURNING s.registered_at, s.last_tick
