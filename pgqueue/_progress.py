"""Progress: a running task reports a number and a message; they are stored on the job
(jobs.progress, with the last RECENT reports) and a NOTIFY on `pgqueue_progress` says which job
changed. Watchers (`app.watch(job_id)`, `pgqueue watch`) read the reports from the table, in
order, then the outcome.

A notification is only a hint to read the row again: any role that can connect may LISTEN and
NOTIFY on pgqueue's channels, so none carries a message and none is believed. Reports are
numbered per job (seq): a watcher yields each seq once, in order, and never goes backwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pgqueue import _channels as channels
from pgqueue._job import JobInfo, JobState
from pgqueue._notifier import Listener, Subscription, job_ids
from pgqueue._repository import Repository
from pgqueue._waits import wait_event
from pgqueue.errors import DatabaseError, JobNotFoundError

logger = logging.getLogger("pgqueue.progress")

# Messages are cut to this many characters: they are for a person watching, and the row keeps
# the last RECENT of them.
MAX_MESSAGE = 1000
# How many reports the row keeps (job_progress.sql): what a watcher can catch up on when several
# reports land between two of its reads.
RECENT = 20
# A watcher reads the row at most this often however many notifications arrive (forged ones
# included): a flood costs one read per interval, never one per notification.
MIN_READ_INTERVAL = 0.05


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """One progress report of a job; seq counts the job's reports from 1."""

    job_id: int
    seq: int
    value: float | None
    message: str | None
    at: str | None = None


@dataclass(frozen=True, slots=True)
class FinishedEvent:
    """The job's outcome, the last event of a watch."""

    job_id: int
    state: JobState
    result: Any = None
    error: dict[str, Any] | None = None


JobEvent = ProgressEvent | FinishedEvent


def check_progress(value: float | None, message: str | None) -> tuple[float | None, str | None]:
    """The report as stored: a finite number or None, and a message cut to MAX_MESSAGE."""
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"progress value must be a number, got {type(value).__name__}")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError("progress value must be finite")
    if message is not None:
        message = str(message)
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 1] + "…"
    return value, message


class ProgressReporter:
    """The worker's progress sink: stores a report on the job it holds and notifies watchers."""

    def __init__(self, repository: Repository, worker_id: str) -> None:
        self.repository = repository
        self.worker_id = worker_id

    async def __call__(self, job_id: int, value: float | None, message: str | None) -> None:
        value, message = check_progress(value, message)
        try:
            held = await self.repository.record_progress(job_id, value, message, self.worker_id)
        except DatabaseError as exc:
            # Progress is for watchers: losing a report must not fail the job itself.
            logger.warning(
                "progress of job %d not recorded: %s", job_id, exc, extra={"job_id": job_id}
            )
            return
        if not held:
            # Rescued, cancelled or finished meanwhile: the report belongs to nobody now.
            logger.debug(
                "progress of job %d dropped: no longer held", job_id, extra={"job_id": job_id}
            )


def progress_event(job_id: int, progress: Any) -> ProgressEvent | None:
    """The event for one stored progress report, None if it is not one."""
    if not isinstance(progress, dict) or not isinstance(progress.get("seq"), int):
        return None
    value = progress.get("value")
    message = progress.get("message")
    at = progress.get("at")
    return ProgressEvent(
        job_id=job_id,
        seq=progress["seq"],
        value=float(value) if isinstance(value, int | float) else None,
        message=message if isinstance(message, str) else None,
        at=at if isinstance(at, str) else None,
    )


def progress_events(job_id: int, progress: Any) -> list[ProgressEvent]:
    """Every report the row keeps (its `recent` ones, else the latest alone), in seq order."""
    if not isinstance(progress, dict):
        return []
    recent = progress.get("recent")
    reports = recent if isinstance(recent, list) and recent else [progress]
    events = [e for e in (progress_event(job_id, r) for r in reports) if e is not None]
    return sorted(events, key=lambda e: e.seq)


def finished_event(info: JobInfo) -> FinishedEvent:
    return FinishedEvent(info.id, info.state, info.result, info.last_error)


class JobWatcher:
    """One subscription (progress and done channels) to the App's listener, shared by every
    watch of the App.

    A subscription is an Event meaning "read the job again": set by a notification naming the
    job (on either channel) and after every (re)connect, when notifications may have been lost.
    Payloads are never parsed for anything but a job id, and nothing in them reaches a user.
    Without a listener (behind a transaction pooler) no hint is ever set: watches poll."""

    def __init__(self, listener: Listener | None) -> None:
        self.listener = listener
        self._hints: dict[int, list[asyncio.Event]] = {}
        self._subscription: Subscription | None = None

    async def subscribe(self, job_id: int) -> asyncio.Event:
        hint = asyncio.Event()
        self._hints.setdefault(job_id, []).append(hint)
        if self.listener is None:
            return hint
        if self._subscription is None:
            self._subscription = self.listener.subscribe(
                (channels.PROGRESS, channels.DONE),
                self._on_notification,
                on_connect=self._on_connect,
            )
        # Listening before the first look at the job, so nothing slips between them; if the
        # listener is slow, polling still gets every event.
        await wait_event(self._subscription.listening, 2.0)
        return hint

    def unsubscribe(self, job_id: int, hint: asyncio.Event) -> None:
        hints = self._hints.get(job_id, [])
        if hint in hints:
            hints.remove(hint)
        if not hints:
            self._hints.pop(job_id, None)

    async def stop(self) -> None:
        if self._subscription is not None and self.listener is not None:
            subscription, self._subscription = self._subscription, None
            await self.listener.unsubscribe(subscription)

    def _on_notification(self, _channel: str, payload: str) -> None:
        # pgqueue_progress carries one id, pgqueue_done a comma-separated list of them.
        for job_id in job_ids(payload):
            for hint in self._hints.get(job_id, ()):
                hint.set()

    def _on_connect(self) -> None:
        for hints in self._hints.values():
            for hint in hints:
                hint.set()


async def watch(
    repository: Repository, watcher: JobWatcher, job_id: int, *, poll_interval: float = 5.0
) -> AsyncIterator[JobEvent]:
    """The job's progress events in order, ending with its outcome (FinishedEvent). Every event
    comes from the row; a watcher that starts late begins at the latest report."""
    hint = await watcher.subscribe(job_id)
    last_seq: int | None = None
    loop = asyncio.get_running_loop()
    try:
        while True:
            # Cleared before the read: a report landing during it (or while the caller handles
            # an event) sets the hint again, so it is read next.
            hint.clear()
            read_at = loop.time()
            info = await repository.get_job(job_id)
            if info is None:
                raise JobNotFoundError(f"no job with id {job_id}")
            events = progress_events(job_id, info.progress)
            if last_seq is None:
                events = events[-1:]
                last_seq = 0
            for event in events:
                if event.seq > last_seq:
                    last_seq = event.seq
                    yield event
            if info.state.is_finished:
                yield finished_event(info)
                return
            with contextlib.suppress(TimeoutError):
                await wait_event(hint, poll_interval)
            await asyncio.sleep(max(0.0, read_at + MIN_READ_INTERVAL - loop.time()))
    finally:
        watcher.unsubscribe(job_id, hint)
