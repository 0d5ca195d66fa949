-- Marks workers silent for longer than their own heartbeat_ttl as lost, and deletes the rows of
-- workers that stopped or were lost more than $1 seconds ago. Silence is measured from the later
-- of the last heartbeat and the database's own start, so a database restart does not make every
-- live worker look dead.
WITH lost AS (
    UPDATE pgqueue.workers AS w
    SET state = 'lost', stopped_at = now()
    WHERE w.state IN ('running', 'stopping')
      AND greatest(w.last_heartbeat, pg_postmaster_start_time()) < now() - w.heartbeat_ttl
    RETURNING w.id
),
pruned AS (
    DELETE FROM pgqueue.workers AS w
    WHERE w.state IN ('stopped', 'lost')
      AND w.stopped_at < now() - make_interval(secs => $1)
    RETURNING w.id
)
SELECT (SELECT count(*) FROM lost) AS lost, (SELECT count(*) FROM pruned) AS pruned
