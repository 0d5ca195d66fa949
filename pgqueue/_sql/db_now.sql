-- The database's clock: the one time every worker agrees on (worker clocks drift).
SELECT now() AS now
