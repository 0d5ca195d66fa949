-- Whether the limit_stats view exists (revision 0013_limits): `pgqueue status` against an older
-- schema shows no limits rather than failing.
SELECT to_regclass('pgqueue.limit_stats') IS NOT NULL
