-- Enqueues one job without dependencies through pgqueue.enqueue_one (revision 0015_enqueue_fast):
-- typed parameters instead of enqueue_many's JSON array, the same row and the same wake-up. The
-- JSON values and run_at are sent as text and cast here, as enqueue_many parses them from its
-- array (a caller's own jsonb or timestamptz codec on the connection cannot re-encode them).
SELECT e.id, e.duplicate
FROM pgqueue.enqueue_one(
    $1, $2::text::jsonb, $3::text::jsonb, $4, $5, $6::text::timestamptz, $7, $8, $9,
    $10::text::jsonb, $11
) AS e
