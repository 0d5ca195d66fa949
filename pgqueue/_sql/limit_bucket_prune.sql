-- Deletes the rate buckets that are full again (no row is a full bucket: see
-- functions/claim_limited.v1.sql) and those of limits that no longer have a rate. Otherwise one
-- small row per rate-limited (task, key) that ever started a job, one per tenant, would stay for
-- good. Run by the maintenance leader's retention pass. A claim that refills a bucket meanwhile
-- either wrote before this reads it (then it is not full) or inserts the row anew after.
DELETE FROM pgqueue.limit_buckets AS b
WHERE NOT EXISTS (
    SELECT 1 FROM pgqueue.limits AS l
    WHERE l.scope = b.scope AND l.name = b.name AND l.rate_count IS NOT NULL
      AND b.tokens + extract(epoch FROM now() - b.refilled_at)::float8
                     * l.rate_count / l.rate_seconds < l.burst
)
