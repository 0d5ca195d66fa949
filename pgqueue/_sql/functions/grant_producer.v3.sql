-- pgqueue.grant_producer(role): what enqueueing needs and nothing else: USAGE on schema pgqueue and
-- EXECUTE on pgqueue.enqueue, pgqueue.enqueue_many, pgqueue.enqueue_one (v2, revision
-- 0015_enqueue_fast: the one-job function the asyncpg path calls) and (v3, revision
-- 0017_enqueue_batch) pgqueue.enqueue_batch, the batch function the asyncpg path calls
-- (docs/security.md). SECURITY INVOKER: only a role that may grant on pgqueue's objects can run
-- it. v1 (revision 0013_limits) was 0012's text as a file.
-- A change is a new versioned file and a new revision, never an edit of this one
-- (docs/migrations.md, "SQL functions and views").
CREATE OR REPLACE FUNCTION pgqueue.grant_producer(role regrole) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA pgqueue TO %s', role);
    EXECUTE format(
        'GRANT EXECUTE ON FUNCTION pgqueue.enqueue_many(jsonb), pgqueue.enqueue, '
        'pgqueue.enqueue_one, pgqueue.enqueue_batch TO %s', role);
END
$$
