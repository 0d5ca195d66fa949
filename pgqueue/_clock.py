"""Time as the worker and its services see it, injectable so tests need not sleep.

`Clock` is the real one: `monotonic()` for intervals and deadlines, `sleep()` and `wait()` for
pauses, and `database_now`, an optional override of the database's `now()` for the queries that
take one (promotion of due jobs; periodic ticks), after River's `now` setting. Durations measured
here never meet database timestamps: those compare only with the database's own clock.

`ManualClock` stands still until a test moves it: a service waiting on it wakes when `advance()`
passes its deadline, so a test of a five-second interval takes no time at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import datetime

from pgqueue._waits import wait_event

DatabaseNow = Callable[[], datetime]


class Clock:
    """The real clock. `database_now`: a callable that stands in for the database's now()."""

    def __init__(self, database_now: DatabaseNow | None = None) -> None:
        self.database_now = database_now

    def monotonic(self) -> float:
        return time.monotonic()

    def now_override(self) -> datetime | None:
        """The time to pass to queries instead of now() (None: the database's own)."""
        return None if self.database_now is None else self.database_now()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait(self, event: asyncio.Event, timeout: float) -> bool:
        """Wait until `event` is set or `timeout` seconds pass; True if it was set."""
        with contextlib.suppress(TimeoutError):
            return await wait_event(event, timeout)
        return event.is_set()


class ManualClock(Clock):
    """A clock that moves only when `advance()` is called (monotonic seconds from `start`)."""

    def __init__(self, start: float = 0.0, database_now: DatabaseNow | None = None) -> None:
        super().__init__(database_now)
        self._now = start
        self._moved = asyncio.Event()
        self.sleepers = 0  # tasks waiting on this clock right now (tests wait for them)

    def monotonic(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()

    async def sleep(self, seconds: float) -> None:
        await self.wait(asyncio.Event(), seconds)

    async def wait(self, event: asyncio.Event, timeout: float) -> bool:
        deadline = self._now + timeout
        self.sleepers += 1
        try:
            while not event.is_set() and self._now < deadline:
                await _first_of(event, self._moved)
        finally:
            self.sleepers -= 1
        return event.is_set()


async def _first_of(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
