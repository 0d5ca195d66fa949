-- The Alembic revision pgqueue's schema is at, NULL on a database never migrated (no version
-- table yet): `pgqueue migrate` says what it applied. query_to_xml defers reading the table
-- until it is known to exist; naming it directly would fail to plan on an empty database.
SELECT CASE
    WHEN to_regclass('pgqueue.alembic_version') IS NULL THEN NULL
    ELSE (xpath('/row/version_num/text()',
                query_to_xml('SELECT version_num FROM pgqueue.alembic_version', false, true, '')
         ))[1]::text
END AS revision
