"""When the worker's plain claim starts after the jobs it claimed last (docs/worker.md, "Claims
while the xmin horizon is held").

While a transaction (or a replication slot) holds the xmin horizon, every job claimed since it
began leaves an entry at the head of jobs_claim_idx that nothing may remove, and the full claim
(job_claim.sql) visits each one's heap tuple before it finds a queued job: its cost grows with
the jobs claimed since the snapshot was taken. The cursor remembers, per queue, the claim-order
key (priority DESC, run_at, id) of the last job the worker claimed; once a full claim took
`slow_after` seconds or more, the claims that follow start their scan after those keys
(job_claim_after.sql), which skips the dead head. Jobs before a key (a higher priority, an older
run_at: committed late, promoted, put back) are taken by the full claim, which still runs at
least every `full_every` seconds, or `cost_factor` times its own duration if that is longer, so
full claims take at most 1/cost_factor of the time and priority order is restored within that
interval. A full claim faster than `slow_after` ends it: outside a held horizon every claim is
the full one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pgqueue._clock import Clock
from pgqueue._job import ClaimedJob, ClaimKey

logger = logging.getLogger("pgqueue.worker")

SLOW_CLAIM = 0.010  # seconds: a full claim this slow starts bounded claims
FULL_EVERY = 1.0  # seconds: while bounded, a full claim at least this often...
COST_FACTOR = 20.0  # ...or every COST_FACTOR times its duration, if that is longer,
# but never less often than this: a claim timed across a stalled event loop (a sync job blocking
# it for seconds) would otherwise leave jobs behind the cursor, a rescued one say, for minutes.
FULL_AT_MOST = 5.0


class ClaimCursor:
    """The keys of the last jobs claimed, per queue, and whether the next claim is bounded."""

    def __init__(
        self,
        clock: Clock,
        *,
        slow_after: float = SLOW_CLAIM,
        full_every: float = FULL_EVERY,
        cost_factor: float = COST_FACTOR,
    ) -> None:
        self.clock = clock
        self.slow_after = slow_after
        self.full_every = full_every
        self.cost_factor = cost_factor
        self.keys: dict[str, ClaimKey] = {}
        self.full_due: float | None = None  # None: every claim is a full one

    @property
    def bounded(self) -> bool:
        """Whether claims are slow: the claims before the next full one are bounded."""
        return self.full_due is not None

    def bound(self) -> dict[str, ClaimKey] | None:
        """The keys the next claim starts after, or None: the next claim is a full one."""
        if self.full_due is None or self.clock.monotonic() >= self.full_due:
            return None
        return dict(self.keys)

    def claimed(self, jobs: Sequence[ClaimedJob], seconds: float, *, bounded: bool) -> None:
        """A plain claim took `seconds` and returned `jobs` (in no particular order: the
        UPDATE's); `bounded`: it was the bounded one. Each queue's key becomes the last of its
        jobs in claim order."""
        last: dict[str, ClaimKey] = {}
        for job in jobs:
            key = job.claim_key
            if key is not None and (job.queue not in last or last[job.queue].precedes(key)):
                last[job.queue] = key
        self.keys.update(last)
        if bounded:
            return
        if seconds >= self.slow_after:
            interval = min(FULL_AT_MOST, max(self.full_every, self.cost_factor * seconds))
            if self.full_due is None:
                logger.info(
                    "a full claim took %.1f ms: claiming after the last jobs claimed, with a full "
                    "claim every %.1f s (is a long transaction holding the xmin horizon?)",
                    seconds * 1000,
                    interval,
                )
            self.full_due = self.clock.monotonic() + interval
        elif self.full_due is not None:
            logger.info("a full claim took %.1f ms: full claims again", seconds * 1000)
            self.full_due = None

    def expire(self) -> None:
        """Make the next claim a full one (jobs were put back, or burst mode must know that
        nothing is left)."""
        if self.full_due is not None:
            self.full_due = self.clock.monotonic()
