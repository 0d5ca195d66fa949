-- For the rest of this session, every prepared statement runs on its generic plan, planned once
-- (pgqueue/_repository/claim_connection.py): set on the connection a worker holds for its
-- claims, whose statements PostgreSQL's default would plan again at every call. Session-level
-- (is_local false): session_default_plans.sql undoes it before the connection goes back to the
-- pool, which skips asyncpg's RESET ALL.
SELECT set_config('plan_cache_mode', 'force_generic_plan', false)
