-- Whether pgqueue.workers has the tasks column (revision 0010_worker_tasks): `pgqueue status`
-- lists tasks no live worker serves only where workers record their tasks.
SELECT EXISTS (
    SELECT 1 FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = to_regclass('pgqueue.workers') AND a.attname = 'tasks'
      AND NOT a.attisdropped
) AS present
