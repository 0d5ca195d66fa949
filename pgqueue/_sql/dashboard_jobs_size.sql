-- How big the job table is, for the job list's header and its keyset window: the newest id (one
-- step down the primary key) and the planner's row estimate (pg_class.reltuples, kept by
-- autovacuum). Never count(*): on a history of millions that reads the whole table.
SELECT (SELECT max(j.id) FROM pgqueue.jobs AS j) AS newest_id,
       greatest(c.reltuples, 0)::bigint AS estimate
FROM pg_catalog.pg_class AS c
WHERE c.oid = 'pgqueue.jobs'::regclass
