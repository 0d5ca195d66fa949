-- pgqueue.grant_worker(role): what a pgqueue worker needs (docs/security.md).
-- v1 as a file (0014_workflows): 0004_hardening wrote it inside the revision; this version names
-- pgqueue.enqueue's new signature and grants SELECT on pgqueue.job_dependencies (a task's
-- parent_results(), `pgqueue jobs show`).
-- Loaded by revision 0014_workflows; a change is a new versioned file and a new revision.
CREATE OR REPLACE FUNCTION pgqueue.grant_worker(role regrole) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA pgqueue TO %s', role);
    -- Claim, outcomes, progress, rescue, promotion, retention; enqueue goes through the function.
    EXECUTE format('GRANT SELECT, UPDATE, DELETE ON pgqueue.jobs TO %s', role);
    -- Heartbeats, the maintenance lease, periodic schedules.
    EXECUTE format(
        'GRANT SELECT, INSERT, UPDATE, DELETE ON pgqueue.workers, pgqueue.leases, '
        'pgqueue.schedules TO %s', role);
    -- Parent results and `pgqueue jobs show` (0014_workflows).
    EXECUTE format('GRANT SELECT ON pgqueue.job_dependencies TO %s', role);
    -- Metrics and `pgqueue status`.
    EXECUTE format(
        'GRANT SELECT ON pgqueue.queue_stats, pgqueue.task_throughput, pgqueue.task_runtimes, '
        'pgqueue.dead_letters, pgqueue.worker_stats TO %s', role);
    EXECUTE format(
        'GRANT EXECUTE ON FUNCTION pgqueue.enqueue_many(jsonb), pgqueue.enqueue(text, jsonb, jsonb, text, integer, timestamptz, integer, text, bigint[], text), pgqueue.cancel(bigint) TO %s', role);
END
$$
