"""drain(): run every runnable job of the app's database in-process, with a real worker, until
none remains (the jobs those jobs enqueue too), and say what ran."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from pgqueue._client import App
from pgqueue._job import JobInfo
from pgqueue._monitoring import Monitor
from pgqueue._repository import Repository
from pgqueue._worker import Worker
from pgqueue.errors import PgQueueError

# How often the drain looks at the table while its worker runs.
_CHECK_INTERVAL = 0.01


class DrainLimitError(PgQueueError):
    """`drain(max_jobs=N)` ran N jobs and more were still runnable (a job that enqueues itself
    forever, say)."""


@dataclass(frozen=True, slots=True)
class DrainResult:
    """What one drain ran: each job as it ended, by id."""

    jobs: list[JobInfo]

    @property
    def counts(self) -> dict[str, int]:
        """Final state -> how many of the jobs it ran ended there (`retrying` and `scheduled`
        count jobs left waiting for a later attempt)."""
        return dict(Counter(job.state.value for job in self.jobs))

    def __getitem__(self, state: str) -> int:
        return self.counts.get(state, 0)


async def drain(
    app: App,
    *,
    queues: Sequence[str] | None = None,
    include_scheduled: bool = False,
    max_jobs: int | None = None,
    timeout: float = 60.0,
) -> DrainResult:
    """Run the runnable jobs of `queues` (None: every queue) as a worker would, one at a time,
    until none remains: jobs they enqueue and retries that fall due now are run too; with
    `include_scheduled`, every scheduled job and every retry at once, whatever its time. Raises
    DrainLimitError once `max_jobs` runs are done with more to go (checked every few ms, so a
    few more may have run), TimeoutError after `timeout` s."""
    if max_jobs is not None and max_jobs < 1:
        raise ValueError("max_jobs must be at least 1")
    await app.open()
    repository = app.repository
    since = await Monitor(repository).now()
    deadline = time.monotonic() + timeout
    ran = 0
    while pending := await _pending(repository, queues, include_scheduled):
        served = tuple(sorted(pending))
        worker = app.worker(
            queues=served,
            concurrency=1,  # one at a time: max_jobs is exact and the order is the claim order
            poll_interval=0.05,
            schedule_interval=0.02,
            maintenance=False,  # no cron ticks or pruning in the middle of a test
        )
        await worker.start()
        try:
            ran += await _run_until_done(
                worker, repository, queues, served, include_scheduled, ran, max_jobs, deadline
            )
        finally:
            await worker.stop()
    ids = await repository.started_since(since, queues)
    return DrainResult([await app.get_job(i) for i in ids])


async def _pending(
    repository: Repository, queues: Sequence[str] | None, include_scheduled: bool
) -> dict[str, int]:
    if include_scheduled:
        await repository.make_due(queues)
    return await repository.drain_pending(queues, include_scheduled)


async def _run_until_done(
    worker: Worker,
    repository: Repository,
    queues: Sequence[str] | None,
    served: tuple[str, ...],
    include_scheduled: bool,
    ran_before: int,
    max_jobs: int | None,
    deadline: float,
) -> int:
    """Jobs this worker ran before nothing was pending in its queues (or pending elsewhere:
    a job enqueued into a queue it does not serve makes the drain start a worker that does)."""
    while True:
        pending = await _pending(repository, queues, include_scheduled)
        ran = worker.stats().processed
        if not pending or not set(pending) <= set(served):
            return ran
        if max_jobs is not None and ran_before + ran >= max_jobs:
            raise DrainLimitError(
                f"drain reached max_jobs={max_jobs} after {ran_before + ran} jobs, with more "
                f"runnable in {', '.join(map(repr, pending))} (a job that enqueues itself?)"
            )
        if time.monotonic() > deadline:
            raise TimeoutError(
                "drain: jobs still runnable after its timeout: "
                + ", ".join(f"{n} in {q!r}" for q, n in pending.items())
            )
        await asyncio.sleep(_CHECK_INTERVAL)
