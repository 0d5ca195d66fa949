"""Flusher: writes the outcomes of finished attempts in batches (job_complete_many.sql through
pgqueue/_outcome_writer.py).

Outcomes that finish close together are coalesced into one statement (up to
completion_batch_size, waiting at most completion_flush_interval). An outcome is forgotten only
once written: a failed write is retried (the state/attempt/worker guard makes a repeated write a
no-op), after a backoff that ends early as soon as anything else reaches the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection

from pgqueue._backoff import Backoff
from pgqueue._clock import Clock
from pgqueue._job import JobState
from pgqueue._outcome_writer import outcome_row, write_outcomes
from pgqueue._repository import Repository
from pgqueue._services._base import Service
from pgqueue._transitions import Transition
from pgqueue.errors import DatabaseError

logger = logging.getLogger("pgqueue.worker")


class Flusher(Service):
    name = "flush"
    what = "recording outcomes"

    def __init__(
        self,
        repository: Repository,
        worker_id: str,
        *,
        pending: list[Transition],
        wake: asyncio.Event,
        batch_size: int,
        flush_interval: float,
        clock: Clock,
        on_written: Callable[[], None],
        on_rejected: Callable[[int], None],
        database_answered: asyncio.Event,
    ) -> None:
        super().__init__(interval=flush_interval, clock=clock)
        self.repository = repository
        self.worker_id = worker_id
        self.batch_size = batch_size
        self.on_written = on_written  # the fetch loop may be holding back while outcomes pile up
        self.on_rejected = on_rejected  # successes the database refused: counted as failures
        self.database_answered = database_answered
        # The worker's list: it appends (and sets `wake`), this service removes from the front.
        self.pending = pending
        self._wake = wake
        # One flush at a time (this loop and the shutdown drain): outcomes are only ever
        # appended at the end and removed from the front under this lock (and by `forget`,
        # behind the ones being written).
        self._lock = asyncio.Lock()
        self._writing = 0  # how many at the front of `pending` the statement under way holds

    async def run_once(self) -> None:
        async with self._lock:
            batch = self.pending[: self.batch_size]
            if not batch:
                return
            rows = [outcome_row(t) for t in batch]
            self._writing = len(batch)
            try:
                # An outcome the database refuses is recorded as a failure of its own job; the
                # others are written.
                rejected = await write_outcomes(self.repository, rows, self.worker_id)
            finally:
                self._writing = 0
            self.on_rejected(sum(1 for r in rejected if r.state == JobState.SUCCEEDED))
            del self.pending[: len(batch)]
        self.on_written()

    def forget(self, job_ids: Collection[int]) -> list[Transition]:
        """Drop the unwritten outcomes of `job_ids` (those not in a statement under way) and
        return them. For a job the database has just handed out again, the attempt such an
        outcome ends no longer runs there, and written under the same attempt number and
        worker it would be taken for the new attempt's (docs/reliability.md, "Claims commit
        asynchronously")."""
        kept: list[Transition] = []
        dropped: list[Transition] = []
        for transition in self.pending[self._writing :]:
            (dropped if transition.job_id in job_ids else kept).append(transition)
        if dropped:
            self.pending[self._writing :] = kept
        return dropped

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            if len(self.pending) < self.batch_size:
                await self.clock.sleep(self.every)  # coalesce outcomes finishing together
            self._wake.clear()
            try:
                await self.run_once()
            except DatabaseError as exc:
                delay = self.backoff.next_delay()
                logger.warning(
                    "could not record %d outcomes (%s); retrying in %.1fs",
                    len(self.pending),
                    exc,
                    delay,
                )
                self._wake.set()
                self.database_answered.clear()
                await self.clock.wait(self.database_answered, delay)
                continue
            except Exception:
                # A bug must not end the loop: a worker that claims and never records is worse.
                delay = self.backoff.next_delay()
                logger.exception("recording outcomes failed; retrying in %.1fs", delay)
                self._wake.set()
                await self.clock.sleep(delay)
                continue
            self.backoff.reset()
            self.passes += 1
            if self.pending:
                self._wake.set()

    async def drain(self, give_up_after: float) -> None:
        """Write every pending outcome before exit, retrying while the database is away."""
        backoff = Backoff(cap=5.0)
        deadline = self.clock.monotonic() + give_up_after
        while self.pending:
            try:
                await self.run_once()
                backoff.reset()
            except DatabaseError as exc:
                if self.clock.monotonic() > deadline:
                    logger.error(
                        "giving up on %d outcomes (%s); their jobs will be rescued",
                        len(self.pending),
                        exc,
                    )
                    return
                await self.clock.sleep(backoff.next_delay())
