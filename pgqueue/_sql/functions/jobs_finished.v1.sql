-- pgqueue.jobs_finished(finished): the one hook every statement that finishes jobs calls, with
-- the ids it finished (moved to succeeded, dead or cancelled, finished_at set), in the same
-- statement or right after it in the same transaction (revision 0016_finish_hooks). It does what
-- the statement-level UPDATE triggers of 0009_notify_v2 and 0014_workflows did:
-- - completion notices: the ids on pgqueue_done, comma-separated, 300 a NOTIFY at most (far below
--   the 8000-byte payload limit), a hint for app.result()/app.watch(), which re-read the table;
-- - dependencies: the 'waiting' children of those jobs go to pgqueue.resolve_waiting(), with the
--   ones that ended dead or cancelled as the failed parents (the same call as
--   resolve_dependencies.v1, so the same lock order: children locked in id order first, their
--   parents read after, in later statements).
-- Why not a trigger: a trigger with transition tables makes PostgreSQL capture every row of every
-- UPDATE of pgqueue.jobs (the claim, progress, promotion) into tuplestores, 12% of a claim and a
-- completion (docs/benchmarks.md); a row trigger on finished_at costs a PL/pgSQL call per row.
-- The writers are few and named: tests/unit/test_finish_hooks.py fails when SQL that sets
-- finished_at does not call this function.
-- The caller's UPDATE is visible here (a VOLATILE function takes a fresh snapshot per query, and
-- the caller holds the rows' locks), so the states are read from the table, not trusted from the
-- caller: called with any ids, it does only what their state already justifies. SECURITY DEFINER
-- with a fixed search_path: a worker role needs no grant on resolve_waiting.
-- Loaded by revision 0016_finish_hooks; a change is a new versioned file and a new revision, never
-- an edit of this one (docs/migrations.md, "SQL functions and views").
CREATE OR REPLACE FUNCTION pgqueue.jobs_finished(finished bigint[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    children bigint[];
BEGIN
    IF coalesce(cardinality(finished), 0) = 0 THEN
        RETURN;
    END IF;
    -- A completion batch (up to completion_batch_size, 200 by default) fits one payload: no query.
    IF cardinality(finished) <= 300 THEN
        PERFORM pg_notify('pgqueue_done', array_to_string(finished, ','));
    ELSE
        PERFORM pg_notify('pgqueue_done', string_agg(f.id::text, ','))
        FROM (
            SELECT u.id, u.n / 300 AS chunk FROM unnest(finished) WITH ORDINALITY AS u (id, n)
        ) AS f
        GROUP BY f.chunk;
    END IF;

    SELECT array_agg(DISTINCT d.child_id) INTO children
    FROM pgqueue.job_dependencies AS d
    WHERE d.parent_id = ANY (finished);
    IF children IS NOT NULL THEN
        PERFORM pgqueue.resolve_waiting(children, ARRAY(
            SELECT j.id FROM pgqueue.jobs AS j
            WHERE j.id = ANY (finished) AND j.state IN ('dead', 'cancelled')
        ));
    END IF;
END
$$
