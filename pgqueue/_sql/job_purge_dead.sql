-- One batch of at most $7 dead letters deleted through pgqueue.purge_dead
-- (functions/purge_dead.v1.sql): the function SQL callers use, so Python, the CLI, the dashboard
-- and psql take one path. Filters as job_requeue_dead.sql's (NULL matches all); callers loop
-- until a batch comes back short, so no transaction is long and no lock held for more than it.
SELECT pgqueue.purge_dead(
    job_ids => $1::bigint[],
    task => $2::text,
    queue => $3::text,
    error_kind => $4::text,
    died_before => $5::timestamptz,
    died_after => $6::timestamptz,
    max_jobs => $7::integer,
    all_dead => true
) AS deleted
