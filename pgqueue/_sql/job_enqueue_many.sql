-- Enqueues every job in a JSON array in one statement; rows come back in input order.
-- All validation and the insert itself live in pgqueue.enqueue_many (see migrations), so the
-- asyncpg, SQLAlchemy and plain-SQL paths write identical rows and wake workers identically.
-- The parameter is typed text so a caller's own jsonb codec on the connection cannot re-encode it.
SELECT m.ord, m.id, m.duplicate
FROM pgqueue.enqueue_many($1::text::jsonb) AS m
ORDER BY m.ord
