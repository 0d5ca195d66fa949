-- pgqueue.grant_producer(role): what enqueueing needs and nothing else (docs/security.md).
-- v1 as a file (0014_workflows): 0004_hardening wrote it inside the revision; this version names
-- pgqueue.enqueue's new signature (depends_on, on_parent_failure).
-- Loaded by revision 0014_workflows; a change is a new versioned file and a new revision.
CREATE OR REPLACE FUNCTION pgqueue.grant_producer(role regrole) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA pgqueue TO %s', role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION pgqueue.enqueue_many(jsonb), pgqueue.enqueue(text, jsonb, jsonb, text, integer, timestamptz, integer, text, bigint[], text) TO %s', role);
END
$$
