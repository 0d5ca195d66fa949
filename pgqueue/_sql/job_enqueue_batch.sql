-- Enqueues a batch without unique keys or dependencies through pgqueue.enqueue_batch (revision
-- 0017_enqueue_batch): one array per column, sent in binary, instead of enqueue_many's JSON
-- array; the same rows and the same wake-up. The JSON values and run_at come as text[] and are
-- cast here, as enqueue_many parses them from its array (a caller's own jsonb or timestamptz
-- codec on the connection cannot re-encode them). The ids come back as one array, in input order.
SELECT array_agg(b.id ORDER BY b.ord)
FROM pgqueue.enqueue_batch(
    $1, $2::text[]::jsonb[], $3::text[]::jsonb[], $4, $5, $6::text[]::timestamptz[], $7, $8,
    $9::text[]::jsonb[], $10
) AS b
