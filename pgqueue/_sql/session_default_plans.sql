-- Undoes session_force_generic_plans.sql when the worker's claim connection goes back to the
-- pool (pgqueue/_repository/claim_connection.py): the pool skips asyncpg's RESET ALL on release
-- (driver._keep_session), and the pool's other statements need PostgreSQL's own choice of plan.
-- RESET, not a value: the role's or database's own setting, if any, comes back.
RESET plan_cache_mode
