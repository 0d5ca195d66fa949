-- pgqueue.grant_operator(role): what an operator role needs to act on dead letters without any
-- privilege on pgqueue.jobs itself: USAGE on the schema, SELECT on pgqueue.dead_letters (to look
-- before acting), EXECUTE on pgqueue.requeue_dead, pgqueue.purge_dead and pgqueue.cancel. Like
-- 0004's grant_producer / grant_worker: SECURITY INVOKER with a fixed search_path, executable by
-- the role that ran the migrations (the owner) only (docs/security.md).
-- Loaded by revision 0011_dead_letter_functions; a change is a new versioned file and a new
-- revision, never an edit of this one (docs/migrations.md, "SQL functions and views").
CREATE OR REPLACE FUNCTION pgqueue.grant_operator(role regrole) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA pgqueue TO %s', role);
    EXECUTE format('GRANT SELECT ON pgqueue.dead_letters TO %s', role);
    EXECUTE format(
        'GRANT EXECUTE ON FUNCTION '
        'pgqueue.requeue_dead(bigint[], text, text, text, timestamptz, timestamptz, integer, boolean), '
        'pgqueue.purge_dead(bigint[], text, text, text, timestamptz, timestamptz, integer, boolean), '
        'pgqueue.cancel(bigint) TO %s', role);
END
$$
