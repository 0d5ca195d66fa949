-- One batch of at most $8 dead letters requeued through pgqueue.requeue_dead
-- (functions/requeue_dead.v1.sql): the function SQL callers use, so Python, the CLI, the
-- dashboard and psql take one path. Filters: ids, task, queue, error kind, died before $5 (the
-- moment the action began, fixed by the caller) and after $6; NULL matches all. all_dead: the
-- callers (`--all`, the dashboard's "requeue all") asked for everything explicitly. Callers loop
-- while a batch requeues any: the function skips what it cannot requeue, so the loop ends.
SELECT pgqueue.requeue_dead(
    job_ids => $1::bigint[],
    task => $2::text,
    queue => $3::text,
    error_kind => $4::text,
    died_before => $5::timestamptz,
    died_after => $6::timestamptz,
    max_jobs => $7::integer,
    all_dead => true
) AS requeued
