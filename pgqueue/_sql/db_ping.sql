-- Whether the database answers a query at all (the worker's healthcheck): no table read, so a
-- missing schema or a locked table does not count as the database being down.
SELECT true AS ok
