-- Whether the worker_stats view exists (it needs the workers table).
SELECT to_regclass('pgqueue.worker_stats') IS NOT NULL AS present
