-- pgqueue.resolve_dependencies(): the jobs' statement-level AFTER UPDATE trigger (revision
-- 0014_workflows) that resolves dependencies where jobs finish: whichever statement moves a job
-- to succeeded, dead or cancelled (the completion batch, pgqueue.cancel(), the operators' cancel,
-- the rescue of a lost worker's jobs, a cancellation cascading here) hands the 'waiting'
-- children of those jobs to pgqueue.resolve_waiting(). Once per statement, not per row; a
-- statement that finished no parent costs one probe of job_dependencies_parent_idx per finished
-- job and nothing else.
-- Loaded by revision 0014_workflows; a change is a new versioned file and a new revision.
CREATE OR REPLACE FUNCTION pgqueue.resolve_dependencies() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    children bigint[];
BEGIN
    SELECT array_agg(DISTINCT d.child_id) INTO children
    FROM pgqueue.job_dependencies AS d
    WHERE d.parent_id = ANY (ARRAY(
        SELECT f.id FROM changed AS f WHERE f.state IN ('succeeded', 'dead', 'cancelled')
    ));
    IF children IS NOT NULL THEN
        PERFORM pgqueue.resolve_waiting(children, ARRAY(
            SELECT f.id FROM changed AS f WHERE f.state IN ('dead', 'cancelled')
        ));
    END IF;
    RETURN NULL;
END
$$
