"""Claim ahead: the jobs a worker has claimed but not started yet, and how many to claim.

Short jobs finish faster than a claim's round trip, so a worker that claims only as many jobs as
it has free slots waits on claims: at concurrency 10, ten jobs per round trip however fast they
run (docs/benchmarks.md; the default of 50 shares each round trip among fifty). While the jobs
it runs are short (a moving average of their run time under SHORT_JOB), a worker claims up to
`prefetch` jobs beyond its free slots, in one statement, and starts them the moment a slot
frees, with no round trip in between; and while it holds claimed-ahead jobs it claims again only
once half of what it may hold is free, so claims stay large. With long jobs nothing is claimed
ahead: a job is claimed when a slot frees, as before.

What a claimed-ahead job is (docs/worker.md, "Claim ahead"): `running` in the table under this
worker (its heartbeat covers it; if the worker dies, the rescue puts it back); started highest
priority first; a stop puts it back in the queue at once without counting the attempt; a cancel
request ends it `cancelled` without running it; a worker declared lost gives it back the same
way (a no-op where the rescue already did).
"""

from __future__ import annotations

from collections.abc import Iterable

from pgqueue._job import ClaimedJob

# Seconds: the mean run time under which claiming ahead pays (a claimed-ahead job then waits
# about prefetch / concurrency such runs, a few tens of milliseconds at most).
SHORT_JOB = 0.01
# The weight of the newest run time in the moving average.
_WEIGHT = 0.2


class ReadyJobs:
    """Claimed, not yet started, highest priority (then oldest id) first."""

    def __init__(self, concurrency: int, prefetch: int) -> None:
        self.concurrency = concurrency
        self.prefetch = prefetch
        self.jobs: list[ClaimedJob] = []
        self.mean_run: float | None = None  # seconds; None until a job has run

    def __len__(self) -> int:
        return len(self.jobs)

    def __contains__(self, job_id: object) -> bool:
        return any(job.id == job_id for job in self.jobs)

    def ids(self) -> list[int]:
        return [job.id for job in self.jobs]

    def ran(self, seconds: float) -> None:
        """A job ran for `seconds`: fold it into the moving average."""
        mean = self.mean_run
        self.mean_run = seconds if mean is None else mean + _WEIGHT * (seconds - mean)

    @property
    def ahead(self) -> int:
        """How many jobs beyond the slots may be held now."""
        short = self.mean_run is not None and self.mean_run < SHORT_JOB
        return self.prefetch if short else 0

    def claim_size(self, active: int) -> int:
        """How many jobs to claim now, with `active` attempts running (0: wait for a slot)."""
        limit = self.concurrency + self.ahead
        room = limit - active - len(self.jobs)
        if self.jobs and room < limit // 2:
            return 0  # jobs in hand: claim once a batch worth the round trip is free
        return max(room, 0)

    def add(self, jobs: Iterable[ClaimedJob]) -> None:
        """Claimed jobs; one the database handed over again (rescued, or its claim lost in a
        crash, and claimed anew) replaces its older entry, an attempt the database no longer
        has."""
        fresh = list(jobs)
        again = {job.id for job in fresh}
        self.jobs = [job for job in self.jobs if job.id not in again] + fresh
        self.jobs.sort(key=lambda job: (-job.priority, job.id))

    def take(self, count: int) -> list[ClaimedJob]:
        """Up to `count` jobs to start now, in order."""
        taken, self.jobs = self.jobs[: max(count, 0)], self.jobs[max(count, 0) :]
        return taken

    def remove(self, job_id: int) -> ClaimedJob | None:
        for index, job in enumerate(self.jobs):
            if job.id == job_id:
                return self.jobs.pop(index)
        return None

    def clear(self) -> list[ClaimedJob]:
        jobs, self.jobs = self.jobs, []
        return jobs
