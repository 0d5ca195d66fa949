-- Whether pgqueue's Alembic version table exists: on a database never migrated it does not,
-- and schema_revision.sql could not even be planned there.
SELECT to_regclass('pgqueue.alembic_version') IS NOT NULL AS present
