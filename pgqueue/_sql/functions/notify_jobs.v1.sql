-- pgqueue.notify_jobs(): the statement-level trigger function on pgqueue.jobs (AFTER INSERT and
-- AFTER UPDATE, with transition tables; the triggers are 0007's). One pgqueue_jobs NOTIFY per queue
-- with queued rows; for an UPDATE, pgqueue_done with the ids of rows the statement finished (a row
-- is finished when finished_at is set, which 0006's CHECK ties to the final states), 300 ids a
-- NOTIFY to stay far below the 8000-byte payload limit. A hint only: listeners re-read the table.
-- Loaded by revision 0008_sql_files; a change is a new versioned file and a new revision, never
-- an edit of this one (docs/migrations.md, "SQL functions and views").
CREATE OR REPLACE FUNCTION pgqueue.notify_jobs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pgqueue_jobs', q.queue)
    FROM (SELECT DISTINCT c.queue FROM changed AS c WHERE c.state = 'queued') AS q;
    IF TG_OP = 'UPDATE' THEN
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
