"""Cancel check: cancels the running jobs whose cancel request is in the table
(job_cancel_requested.sql).

Two triggers, one query: a pgqueue_cancel notification pokes it (at most one read per
NOTIFIED_INTERVAL, since anyone who can connect may send notifications), and every
heartbeat_interval it reads anyway, the backstop for a missed notification and poll-only mode.
Only the table says which jobs to cancel.
"""

from __future__ import annotations

from collections.abc import Callable

from pgqueue._clock import Clock
from pgqueue._repository import Repository
from pgqueue._services._base import Service

# A notification makes the worker read its cancel requests at most once per this many seconds.
NOTIFIED_INTERVAL = 0.25


class CancelCheck(Service):
    name = "cancel-requests"
    what = "reading cancel requests"

    def __init__(
        self,
        repository: Repository,
        worker_id: str,
        cancel_job: Callable[[int], bool],
        *,
        interval: float,
        clock: Clock,
    ) -> None:
        super().__init__(interval=interval, clock=clock)
        self.repository = repository
        self.worker_id = worker_id
        self.cancel_job = cancel_job
        self._last_read = float("-inf")

    async def run_once(self) -> None:
        self._last_read = self.clock.monotonic()
        for job_id in await self.repository.cancel_requested(self.worker_id):
            self.cancel_job(job_id)

    def notified(self) -> None:
        """A pgqueue_cancel notification named one of our jobs: read the table soon."""
        self.poke()

    async def run(self) -> None:
        while True:
            self._wake.clear()  # before the read: a notification during it is one more read
            delay = await self.run_guarded()
            if await self.clock.wait(self._wake, delay):
                # Poked: but not more often than NOTIFIED_INTERVAL, whatever the flood.
                since = self.clock.monotonic() - self._last_read
                await self.clock.sleep(max(0.0, NOTIFIED_INTERVAL - since))
