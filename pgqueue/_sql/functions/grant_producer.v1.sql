-- pgqueue.grant_producer(role): what enqueueing needs and nothing else: USAGE on schema pgqueue and
-- EXECUTE on pgqueue.enqueue and pgqueue.enqueue_many (docs/security.md). SECURITY INVOKER: only a
-- role that may grant on pgqueue's objects can run it. 0004_hardening wrote it inside the revision;
-- v1 here (revision 0013_limits) names pgqueue.enqueue with its new limit_key parameter.
-- Loaded by revision 0013_limits; a change is a new versioned file and a new revision, never an
-- edit of this one (docs/migrations.md, "SQL functions and views").
CREATE OR REPLACE FUNCTION pgqueue.grant_producer(role regrole) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA pgqueue TO %s', role);
    EXECUTE format(
        'GRANT EXECUTE ON FUNCTION pgqueue.enqueue_many(jsonb), '
        'pgqueue.enqueue(text, jsonb, jsonb, text, integer, timestamptz, integer, text, text) '
        'TO %s', role);
END
$$
