-- Retention: deletes up to $3 jobs in finished state $1 that finished more than $2 seconds ago
-- (database time), oldest first. The maintenance leader and `pgqueue prune` call it in a loop of
-- short transactions; SKIP LOCKED never waits on a row someone is touching. A range scan of
-- jobs_finished_idx, so the cost is the rows deleted, not the table size. The finished states
-- are named as a constant too: from `state = $1` alone a generic plan (which PostgreSQL may
-- switch a prepared statement to) cannot tell that the partial index applies, and scans the
-- table (tests/plans/test_ops_plans.py).
WITH doomed AS (
    SELECT j.id
    FROM pgqueue.jobs AS j
    WHERE j.state = $1::text
      AND j.state IN ('succeeded', 'dead', 'cancelled')
      AND j.finished_at < now() - make_interval(secs => $2::float8)
      -- A parent stays while a child of it has not finished (docs/workflows.md): the child is
      -- still waiting on it, or will read its result (parent_results()) when it runs. A probe
      -- of job_dependencies_parent_idx per candidate, and the child's state by primary key (a
      -- scalar subquery, which the planner cannot turn into a scan of jobs).
      AND NOT EXISTS (
          SELECT 1
          FROM pgqueue.job_dependencies AS d
          WHERE d.parent_id = j.id
            AND (SELECT c.state FROM pgqueue.jobs AS c WHERE c.id = d.child_id)
                NOT IN ('succeeded', 'dead', 'cancelled')
      )
    ORDER BY j.finished_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED
),
deleted AS (
    -- = ANY(ARRAY(...)) keeps a primary-key lookup in generic plans too: PostgreSQL 18's
    -- generic plan of a join with `doomed` (whose row count it cannot know) scans the table.
    DELETE FROM pgqueue.jobs AS j
    WHERE j.id = ANY(ARRAY(SELECT d.id FROM doomed AS d))
    RETURNING j.id
)
SELECT count(*) AS deleted FROM deleted
