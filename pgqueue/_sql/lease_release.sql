-- Gives the lease $1 up if holder $2 has it, so another worker can take over at once.
DELETE FROM pgqueue.leases AS l
WHERE l.name = $1 AND l.holder = $2
