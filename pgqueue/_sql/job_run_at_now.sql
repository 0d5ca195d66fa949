-- Makes every scheduled or waiting-to-retry job in the queues $1 (NULL: every queue) due now, for
-- pgqueue.testing.drain(include_scheduled=True). Only run_at changes: the promoter moves them to
-- `queued` as it moves any due job, so the state machine has no second writer here.
UPDATE pgqueue.jobs AS j
SET run_at = now()
WHERE j.state IN ('scheduled', 'retrying')
  AND j.run_at > now()
  AND ($1::text[] IS NULL OR j.queue = ANY ($1::text[]))
