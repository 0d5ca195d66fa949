-- pgqueue.grant_worker(role): what a pgqueue worker needs: jobs read, updated and pruned, its own
-- bookkeeping tables, the monitoring views, enqueue, cancel and the limited claim
-- (docs/security.md). SECURITY INVOKER: only a role that may grant on pgqueue's objects can run
-- it. v1 (revision 0013_limits) added the flow-control tables, view and function; v2 (revision
-- 0014_workflows) SELECT on pgqueue.job_dependencies; v3 (revision 0015_enqueue_fast) EXECUTE on
-- pgqueue.enqueue_one (a periodic tick enqueues one job through it); v4 (revision
-- 0017_enqueue_batch) EXECUTE on pgqueue.enqueue_batch (a task's own app.enqueue_many, on the
-- worker's role, sends its batches there).
-- A change is a new versioned file and a new revision, never an edit of this one
-- (docs/migrations.md, "SQL functions and views").
CREATE OR REPLACE FUNCTION pgqueue.grant_worker(role regrole) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA pgqueue TO %s', role);
    -- Claim, outcomes, progress, rescue, promotion, retention; enqueue goes through the function.
    EXECUTE format('GRANT SELECT, UPDATE, DELETE ON pgqueue.jobs TO %s', role);
    -- Heartbeats, the maintenance lease, periodic schedules, limits and their rate buckets.
    EXECUTE format(
        'GRANT SELECT, INSERT, UPDATE, DELETE ON pgqueue.workers, pgqueue.leases, '
        'pgqueue.schedules, pgqueue.limits, pgqueue.limit_buckets TO %s', role);
    -- Parent results and `pgqueue jobs show` (0014_workflows).
    EXECUTE format('GRANT SELECT ON pgqueue.job_dependencies TO %s', role);
    -- Metrics and `pgqueue status`.
    EXECUTE format(
        'GRANT SELECT ON pgqueue.queue_stats, pgqueue.task_throughput, pgqueue.task_runtimes, '
        'pgqueue.dead_letters, pgqueue.worker_stats, pgqueue.limit_stats TO %s', role);
    EXECUTE format(
        'GRANT EXECUTE ON FUNCTION pgqueue.enqueue_many(jsonb), pgqueue.enqueue, '
        'pgqueue.enqueue_one, pgqueue.enqueue_batch, pgqueue.cancel(bigint), '
        'pgqueue.claim_limited(text[], integer, uuid) TO %s', role);
END
$$
