-- The Alembic revision pgqueue's schema is at (run only when the version table exists, see
-- schema_revision_exists.sql): `pgqueue migrate` reports what it applied from here.
SELECT version_num AS revision FROM pgqueue.alembic_version
