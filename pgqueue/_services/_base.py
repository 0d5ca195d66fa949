"""The one kind of background loop: a service runs one pass, waits, and runs the next.

What each service would otherwise write again by hand lives here once: the interval and its
jitter, the backoff after an error (a `DatabaseError` is logged as a warning, anything else, a
bug, with its traceback: neither ends the loop, since a service that died silently would leave
its work undone for the whole cluster), a wake-up (`poke()`), stopping, and the count of passes
tests wait on. A test runs exactly one pass with `await service.run_once()`, or drives `run()`
with a `ManualClock` so intervals pass without sleeping.
"""

from __future__ import annotations

import asyncio
import logging

from pgqueue._backoff import Backoff, jittered
from pgqueue._clock import Clock
from pgqueue.errors import DatabaseError

logger = logging.getLogger("pgqueue.worker")


class Service:
    """Calls `run_once()` every `interval` seconds (spread by `jitter`) until stopped.

    Subclasses set `name` (the asyncio task is pgqueue-<name>) and `what` (for log lines: "what
    failed (error); retrying in 1.0s"), implement `run_once()`, and may override `interval()`
    when the pause depends on state (the maintenance leader waits longer while not leading)."""

    name = "service"
    what = "background pass"

    def __init__(
        self,
        *,
        interval: float,
        clock: Clock | None = None,
        jitter: float = 0.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.every = interval
        self.jitter = jitter
        self.clock = clock or Clock()
        self.backoff = backoff or Backoff()
        self.passes = 0  # passes that completed without an error
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> None:
        """One pass of the service's work; raise to have it retried after a backoff."""
        raise NotImplementedError

    def interval(self) -> float:
        """The pause after a good pass (before jitter)."""
        return self.every

    def poke(self) -> None:
        """Run the next pass now instead of at the end of the pause."""
        self._wake.set()

    async def run(self) -> None:
        """Pass, pause, pass, ... until cancelled."""
        while True:
            # Cleared before the pass: a poke that comes during it runs the next one at once.
            self._wake.clear()
            delay = await self.run_guarded()
            await self.clock.wait(self._wake, delay)

    async def run_guarded(self) -> float:
        """One pass with its errors handled; returns the pause before the next."""
        try:
            await self.run_once()
        except asyncio.CancelledError:
            raise
        except DatabaseError as exc:
            delay = self.backoff.next_delay()
            logger.warning("%s failed (%s); retrying in %.1fs", self.what, exc, delay)
            return delay
        except Exception:
            delay = self.backoff.next_delay()
            logger.exception("%s failed; retrying in %.1fs", self.what, delay)
            return delay
        self.passes += 1
        self.backoff.reset()
        return jittered(self.interval(), self.jitter)

    def start(self) -> asyncio.Task[None]:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=f"pgqueue-{self.name}")
        return self._task

    async def stop(self) -> None:
        """Cancel the loop and wait for it to end (a pass in flight is abandoned)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
