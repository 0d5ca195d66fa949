-- pgqueue.notify_jobs(): the trigger function that sends every wake-up (pgqueue_jobs, the queue
-- name) and every completion notice (pgqueue_done, job ids) for pgqueue.jobs. v2 (revision
-- 0009_notify_v2) sends the same notifications as v1 for the same statements, but a claim or a
-- progress report, the hot UPDATEs that queue and finish nothing, no longer run a query on the
-- transition tables (EXPLAIN ANALYZE: v1 took 14% of the server time of a claim of 10 jobs, v2
-- half of that, what remains being the capture of the transition tables). Three triggers:
-- - AFTER INSERT, per statement (transition table `changed`): one NOTIFY per queue with queued rows;
-- - AFTER UPDATE, per row, WHEN the row is queued afterwards: its queue (PostgreSQL folds identical
--   notifications of a transaction into one, so a listener still hears one per queue);
-- - AFTER UPDATE, per statement (tables `previous` and `changed`): the ids of rows the statement
--   finished, 300 ids a NOTIFY to stay far below the 8000-byte payload limit. Only a statement
--   that sets finished_at can finish a row (0006's CHECK ties finished_at to the final states), so
--   the trigger jobs_notify_finishing (AFTER UPDATE OF finished_at, which fires first: triggers of
--   one event fire in name order) marks such a statement in a transaction-local setting, and
--   every other UPDATE returns here at the cost of one comparison.
-- A hint only: listeners re-read the table. A change is a new versioned file and a new revision,
-- never an edit of this one (docs/migrations.md, "SQL functions and views").
CREATE OR REPLACE FUNCTION pgqueue.notify_jobs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        PERFORM pg_notify('pgqueue_jobs', NEW.queue);
    ELSIF TG_OP = 'INSERT' THEN
        PERFORM pg_notify('pgqueue_jobs', q.queue)
        FROM (SELECT DISTINCT c.queue FROM changed AS c WHERE c.state = 'queued') AS q;
    ELSIF current_setting('pgqueue.statement_finishes', true) = 'on' THEN
        PERFORM set_config('pgqueue.statement_finishes', 'off', true);
        PERFORM pg_notify('pgqueue_done', string_agg(f.id::text, ','))
        FROM (
            SELECT c.id, (row_number() OVER ()) / 300 AS chunk
            FROM changed AS c
            WHERE c.finished_at IS NOT NULL
              AND NOT EXISTS (
                  SELECT 1 FROM previous AS b WHERE b.id = c.id AND b.finished_at IS NOT NULL
              )
        ) AS f
        GROUP BY f.chunk;
    END IF;
    RETURN NULL;
END
$$
