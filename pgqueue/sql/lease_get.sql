-- Who holds lease $1 and until when (operators, tests).
SELECT l.name, l.holder, l.acquired_at, l.expires_at, l.expires_at > now() AS valid
FROM pgqueue.leases AS l
WHERE l.name = $1
