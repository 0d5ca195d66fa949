"""The live push: one LISTEN connection per dashboard process, fanned out to every browser.

A notification is only a hint that something changed (anyone who can connect may send one): the
hub then reads the database once, at most every `min_interval` seconds however many
notifications or browsers there are, and sends what it read to every subscriber. A slow
fallback read (`fallback` seconds) catches what a lost notification missed. Nothing is read
while nobody is watching.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from pgqueue import _channels as channels
from pgqueue._job import JobInfo
from pgqueue._notifier import Listener, Subscription, job_ids
from pgqueue._progress import (
    FinishedEvent,
    JobEvent,
    ProgressEvent,
    finished_event,
    progress_events,
)
from pgqueue._waits import wait_event

logger = logging.getLogger("pgqueue.web")

# pgqueue_jobs: enqueues, retries, requeues (the workers' wake-up channel).
CHANNELS = (channels.JOBS, channels.PROGRESS, channels.DONE)

_CLOSED: Any = object()


class _Latest:
    """A subscriber that only wants the newest snapshot: a slow browser skips stale ones."""

    def __init__(self) -> None:
        self.value: Any = None
        self.changed = asyncio.Event()

    def put(self, value: Any) -> None:
        self.value = value
        self.changed.set()


class _JobFeed:
    """One reader of one job shared by every browser watching it."""

    def __init__(self) -> None:
        self.hint = asyncio.Event()
        self.queues: list[asyncio.Queue[Any]] = []
        self.latest: ProgressEvent | None = None
        self.finished: FinishedEvent | None = None
        self.task: asyncio.Task[None] | None = None

    def broadcast(self, event: Any) -> None:
        for q in self.queues:
            q.put_nowait(event)


class LiveHub:
    """Fans one LISTEN connection and one reader out to any number of browsers."""

    def __init__(
        self,
        listener: Callable[[], Listener | None],
        read_overview: Callable[[], Awaitable[Any]],
        read_job: Callable[[int], Awaitable[JobInfo | None]],
        *,
        min_interval: float = 0.5,
        fallback: float = 5.0,
    ) -> None:
        # The App's one LISTEN connection, made on first use; None behind a transaction pooler
        # without a listen_dsn (docs/pgbouncer.md): then every feed reads every `fallback` s.
        self.listener = listener
        self.read_overview = read_overview
        self.read_job = read_job
        self.min_interval = min_interval
        self.fallback = fallback
        self.reads = 0  # overview reads, for tests: one per interval, not one per browser
        self._subscription: Subscription | None = None
        self._overview_hint = asyncio.Event()
        self._overview: Any = None
        self._overview_subs: list[_Latest] = []
        self._overview_task: asyncio.Task[None] | None = None
        self._feeds: dict[int, _JobFeed] = {}
        self._closed = False

    # -- the one listener ----------------------------------------------------------------------

    async def _listen(self) -> None:
        listener = self.listener()
        if listener is None:
            return
        if self._subscription is None:
            self._subscription = listener.subscribe(
                CHANNELS, self._on_notification, on_connect=self._poke_all
            )
        # Listening before the first read, so nothing slips between them; if the listener is
        # slow to come up the fallback read still gets there.
        await wait_event(self._subscription.listening, 2.0)

    @property
    def listening(self) -> bool:
        return self._subscription is not None and self._subscription.listening.is_set()

    def _on_notification(self, channel: str, payload: str) -> None:
        self._overview_hint.set()
        if channel != channels.JOBS:
            for job_id in job_ids(payload):
                feed = self._feeds.get(job_id)
                if feed is not None:
                    feed.hint.set()

    def _poke_all(self) -> None:
        # After a (re)connect notifications may have been lost: everyone reads again.
        self._overview_hint.set()
        for feed in self._feeds.values():
            feed.hint.set()

    async def close(self) -> None:
        self._closed = True
        tasks = [self._overview_task, *(f.task for f in self._feeds.values())]
        for task in tasks:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for sub in self._overview_subs:
            sub.put(_CLOSED)
        for feed in self._feeds.values():
            feed.broadcast(_CLOSED)
        self._feeds.clear()
        listener = self.listener()
        if self._subscription is not None and listener is not None:
            subscription, self._subscription = self._subscription, None
            await listener.unsubscribe(subscription)

    # -- the overview (queues, throughput, workers) ---------------------------------------------

    async def overview(self) -> AsyncIterator[Any]:
        """The overview now, then again each time it changes."""
        sub = _Latest()
        self._overview_subs.append(sub)
        try:
            await self._listen()
            if self._overview is not None:
                sub.put(self._overview)  # at once, however old: a fresh one follows
            self._overview_hint.set()
            if self._overview_task is None:
                self._overview_task = asyncio.create_task(self._run_overview())
            while True:
                await sub.changed.wait()
                sub.changed.clear()
                if sub.value is _CLOSED:
                    return
                yield sub.value
        finally:
            self._overview_subs.remove(sub)

    async def _run_overview(self) -> None:
        loop = asyncio.get_running_loop()
        self._overview_hint.set()
        while not self._closed:
            if self._overview_subs:
                self._overview_hint.clear()
                started = loop.time()
                try:
                    snapshot = await self.read_overview()
                except Exception as exc:  # a database hiccup: say so, try again next time
                    logger.warning("dashboard overview not read: %s", exc)
                else:
                    self.reads += 1
                    if snapshot != self._overview:
                        self._overview = snapshot
                        for sub in self._overview_subs:
                            sub.put(snapshot)
                await asyncio.sleep(max(0.0, started + self.min_interval - loop.time()))
            with contextlib.suppress(TimeoutError):
                await wait_event(self._overview_hint, self.fallback)

    # -- one job's progress and outcome ---------------------------------------------------------

    async def job_events(self, job_id: int) -> AsyncIterator[JobEvent | None]:
        """The job's latest progress report, each later one in order, then its outcome (the
        last event). Yields None once if there is no such job."""
        feed = self._feeds.get(job_id)
        if feed is None:
            feed = self._feeds[job_id] = _JobFeed()
        q: asyncio.Queue[Any] = asyncio.Queue()
        feed.queues.append(q)
        try:
            await self._listen()
            if feed.latest is not None:
                q.put_nowait(feed.latest)
            if feed.finished is not None:
                q.put_nowait(feed.finished)
            if feed.task is None:
                feed.task = asyncio.create_task(self._run_feed(job_id, feed))
            while True:
                event = await q.get()
                if event is _CLOSED:
                    return
                yield event
                if event is None or isinstance(event, FinishedEvent):
                    return
        finally:
            feed.queues.remove(q)
            if not feed.queues and self._feeds.get(job_id) is feed:
                del self._feeds[job_id]
                if feed.task is not None and feed.task is not asyncio.current_task():
                    feed.task.cancel()

    async def _run_feed(self, job_id: int, feed: _JobFeed) -> None:
        loop = asyncio.get_running_loop()
        last_seq: int | None = None
        while True:
            # Cleared before the read: a report landing during it sets the hint again.
            feed.hint.clear()
            started = loop.time()
            try:
                info = await self.read_job(job_id)
            except Exception as exc:
                logger.warning("dashboard: job %d not read: %s", job_id, exc)
            else:
                if info is None:
                    feed.broadcast(None)
                    self._forget(job_id, feed)
                    return
                events = progress_events(job_id, info.progress)
                if last_seq is None:
                    events, last_seq = events[-1:], 0
                for event in events:
                    if event.seq > last_seq:
                        last_seq = event.seq
                        feed.latest = event
                        feed.broadcast(event)
                if info.state.is_finished:
                    feed.finished = finished_event(info)
                    feed.broadcast(feed.finished)
                    self._forget(job_id, feed)
                    return
            with contextlib.suppress(TimeoutError):
                await wait_event(feed.hint, self.fallback)
            await asyncio.sleep(max(0.0, started + self.min_interval - loop.time()))

    def _forget(self, job_id: int, feed: _JobFeed) -> None:
        # A finished job's feed is done: a later watcher starts a fresh one (one read).
        if self._feeds.get(job_id) is feed:
            del self._feeds[job_id]
