"""Liveness that does not depend on the event loop: the worker's heartbeat runs on a thread of
its own, with its own event loop and its own database connection.

An async task that blocks the worker's loop (CPU work, a blocking call without a thread) would
otherwise silence the heartbeat, get the worker declared lost after its ttl, and have every
other job it runs rescued and run again elsewhere. Here:

- the worker's loop moves a clock forward every TICK seconds (LoopWatch); the heartbeat thread
  reads it, so it always knows how long the loop has not answered;
- a loop silent for STALL_WARNING seconds is *stalled*: the thread logs a warning naming the
  asyncio task running on the loop (job tasks are named pgqueue-job-<id>), and when the loop
  answers again, how long it was blocked (the `on_stall` callback feeds the metric
  pgqueue_event_loop_stall_seconds); the heartbeat carries the stall (loop_stall_seconds);
- a loop silent for `stall_limit` (WorkerSettings.loop_stall_limit, default 300 s) is *wedged*:
  the thread stops beating and logs why, so the worker is declared lost after its ttl and its
  jobs are rescued; a process whose loop runs nothing is as good as dead. Beating resumes if the
  loop comes back (the worker then learns it was declared lost).

What still stops the heartbeats: the process dying, the database out of reach, the loop wedged
as above, or code that holds the GIL without releasing it (a C extension) for a whole ttl.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable

from pgqueue._backoff import Backoff
from pgqueue._repository import HeartbeatConnection, WorkerRow
from pgqueue._waits import wait_event
from pgqueue.errors import DatabaseError

logger = logging.getLogger("pgqueue.worker")

TICK = 0.1  # how often the worker's loop says it is alive
WATCH_INTERVAL = 0.1  # how often the thread looks
STALL_WARNING = 1.0  # silent this long: a stall worth a warning and a metric
# Jobs done, failed or running changed since the last beat: beat within this long rather than
# a whole interval, so `pgqueue workers` and the dashboard show counts at most this old (one
# UPDATE a second at most, only while the counts move; issue 14 item 14).
COUNTS_FRESH = 1.0


class LoopWatch:
    """A clock the watched event loop moves forward; readable from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.answered_at = time.monotonic()
        self._handle: asyncio.Handle | None = None

    def start(self) -> None:
        self._tick()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        self.answered_at = time.monotonic()
        self._handle = self.loop.call_later(TICK, self._tick)

    def silent_for(self) -> float:
        """Seconds since the loop last answered, beyond its tick."""
        return max(0.0, time.monotonic() - self.answered_at - TICK)

    def running_task(self) -> str | None:
        """The name of the asyncio task running on the loop right now (None: no task, a plain
        callback). Read from another thread: a dictionary lookup, safe under the GIL."""
        task = asyncio.current_task(self.loop)
        return None if task is None else task.get_name()


class Heartbeat:
    """Beats for a worker every `interval` from a thread with its own loop and connection.

    `row()` gives the worker's current row (called on this thread); `on_beat(previous)` gets
    the state the row was in before each successful beat; `describe(task_name)` says what a
    stalled loop was running; `on_stall(seconds)` is told each stall's length. All three are
    called on the heartbeat thread."""

    _failing = False  # the last beat failed: back off, no early beats
    _counts: tuple[int, int, int] | None = None  # (processed, failed, active) as last beaten

    def __init__(
        self,
        *,
        dsn: str | None,
        watch: LoopWatch,
        row: Callable[[], WorkerRow],
        interval: float,
        stall_limit: float,
        connect_timeout: float = 10.0,
        command_timeout: float | None = 30.0,
        on_beat: Callable[[str], None] | None = None,
        describe: Callable[[str | None], str] | None = None,
        on_stall: Callable[[float], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dsn = dsn
        self.watch = watch
        self.row = row
        self.interval = interval
        self.stall_limit = stall_limit
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.on_beat = on_beat
        self.describe = describe or (lambda name: f"asyncio task {name}")
        self.on_stall = on_stall
        # The worker's clock (pgqueue/_clock.py), for `last_ok` only: stall measurement is real time.
        self.monotonic = monotonic
        self.last_ok = monotonic()  # the last beat that reached the database
        self.stalls = 0
        self._stall: tuple[float, str] | None = None  # (started, what ran) of the stall now
        self._withheld = False
        self._stopping = False
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._conn = HeartbeatConnection(
            dsn, connect_timeout=connect_timeout, command_timeout=command_timeout
        )
        self._thread = threading.Thread(target=self._main, name="pgqueue-heartbeat", daemon=True)

    @property
    def stalled_for(self) -> float:
        """How long the watched loop has been blocked, if that is a stall (else 0)."""
        silent = self.watch.silent_for()
        return silent if silent >= STALL_WARNING else 0.0

    def start(self) -> None:
        # The worker registered its row (these counts) just before starting its heartbeat.
        row = self.row()
        self._counts = (row.processed, row.failed, row.active)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop beating and close the connection (blocking: run it in a thread)."""
        self._stopping = True
        if self._ready.wait(timeout) and self._loop is not None and self._wake is not None:
            with contextlib.suppress(RuntimeError):  # its loop closed already
                self._loop.call_soon_threadsafe(self._wake.set)
        self._thread.join(timeout)

    # -- on the heartbeat thread -----------------------------------------------------------

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._wake = asyncio.Event()
        self._ready.set()
        watcher = asyncio.create_task(self._watch_loop())
        try:
            # Connected up front, so a network that stalls later makes a beat time out within
            # command_timeout, not wait out a connect_timeout first.
            with contextlib.suppress(DatabaseError):
                await self._conn.open()
            await self._beat_loop()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await self._conn.close()

    async def _sleep(self, delay: float) -> None:
        assert self._wake is not None
        with contextlib.suppress(TimeoutError):
            await wait_event(self._wake, delay)

    async def _beat_loop(self) -> None:
        backoff = Backoff()
        delay = self.interval
        while not self._stopping:
            await self._wait_for_beat(delay)
            if self._stopping:
                return
            delay = self.interval
            if self._wedged():
                continue
            try:
                previous = await self._beat()
            except DatabaseError as exc:
                self._conn.drop()
                self._failing = True
                delay = min(self.interval, backoff.next_delay())
                logger.warning("heartbeat failed (%s); retrying in %.1fs", exc, delay)
                continue
            self._failing = False
            backoff.reset()
            self.last_ok = self.monotonic()
            if self.on_beat is not None:
                self.on_beat(previous)

    async def _wait_for_beat(self, delay: float) -> None:
        """Sleep `delay`, or only until COUNTS_FRESH after the worker's counts moved (not while
        beats fail: then the backoff decides)."""
        deadline = time.monotonic() + delay
        while not self._stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await self._sleep(min(left, COUNTS_FRESH))
            if not self._failing and self._counts_moved():
                return

    def _counts_moved(self) -> bool:
        row = self.row()
        return self._counts is not None and self._counts != (row.processed, row.failed, row.active)

    def _wedged(self) -> bool:
        """Whether the loop has been silent for stall_limit (logs once when it starts and
        when it ends)."""
        silent = self.watch.silent_for()
        if silent >= self.stall_limit:
            if not self._withheld:
                self._withheld = True
                logger.error(
                    "the event loop has not answered for %.0fs (loop_stall_limit %.0fs): "
                    "heartbeats stopped, so this worker will be declared lost and its jobs "
                    "rescued; running on the loop: %s",
                    silent,
                    self.stall_limit,
                    self.describe(self.watch.running_task()),
                )
            return True
        if self._withheld:
            self._withheld = False
            logger.warning("the event loop answers again: heartbeats resume")
        return False

    async def _beat(self) -> str:
        row = dataclasses.replace(
            self.row(), loop_stall_seconds=self.stalled_for, loop_stalls=self.stalls
        )
        previous = await self._conn.beat(row)
        self._counts = (row.processed, row.failed, row.active)
        return previous

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            silent = self.watch.silent_for()
            if silent >= STALL_WARNING and self._stall is None:
                culprit = self.describe(self.watch.running_task())
                self._stall = (time.monotonic() - silent, culprit)
                self.stalls += 1
                logger.warning(
                    "event loop blocked for %.1fs so far by %s: an async task must not block "
                    "(run blocking code in a plain def task, or in a thread); the heartbeat "
                    "goes on from its own thread",
                    silent,
                    culprit,
                )
            elif silent < STALL_WARNING and self._stall is not None:
                started, culprit = self._stall
                self._stall = None
                seconds = time.monotonic() - started - silent
                logger.warning("event loop was blocked for %.1fs by %s", seconds, culprit)
                if self.on_stall is not None:
                    self.on_stall(seconds)
