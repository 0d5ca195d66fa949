-- Takes or renews the lease $1 for holder $2 until now() + $3 seconds (database time): succeeds
-- when nobody holds it, the holder is $2 already, or the last holder let it expire. Returns a row
-- only on success, so exactly one holder at a time; no advisory locks (PgBouncer-safe).
INSERT INTO pgqueue.leases AS l (name, holder, acquired_at, expires_at)
VALUES ($1, $2, now(), now() + make_interval(secs => $3::float8))
ON CONFLICT (name) DO UPDATE
SET holder = excluded.holder,
    acquired_at = CASE WHEN l.holder = excluded.holder THEN l.acquired_at ELSE now() END,
    expires_at = excluded.expires_at
WHERE l.holder = excluded.holder OR l.expires_at < now()
RETURNING l.holder, l.acquired_at, l.expires_at
