-- pgqueue.grant_producer(role): what enqueueing needs and nothing else: USAGE on schema pgqueue and
-- EXECUTE on pgqueue.enqueue and pgqueue.enqueue_many (docs/security.md). SECURITY INVOKER: only a
-- role that may grant on pgqueue's objects can run it. 0004_hardening wrote it inside the revision
-- and 0012_job_metadata made it name pgqueue.enqueue by its name alone (PostgreSQL resolves a
-- unique name, so a change of enqueue's parameters need not redefine it); v1 here (revision
-- 0013_limits) is 0012's text as a file.
-- Loaded by revision 0013_limits; a change is a new versioned file and a new revision, never an
-- edit of this one (docs/migrations.md, "SQL functions and views").
CREATE OR REPLACE FUNCTION pgqueue.grant_producer(role regrole) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA pgqueue TO %s', role);
    EXECUTE format(
        'GRANT EXECUTE ON FUNCTION pgqueue.enqueue_many(jsonb), pgqueue.enqueue TO %s', role);
END
$$
