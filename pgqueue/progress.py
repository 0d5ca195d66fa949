"""Progress: a running task reports a number and a message; they are stored on the job
(jobs.progress) and pushed with NOTIFY on `pgqueue_progress`. Watchers (`app.watch(job_id)`,
`pgqueue watch`) get the reports in order, then the outcome.

Reports are numbered per job (seq), so a watcher that also polls (after a reconnect, or when
notifications were lost) drops what it has already seen and never goes backwards.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pgqueue import serialization
from pgqueue.errors import DatabaseError, JobNotFoundError, SerializationError
from pgqueue.job import JobInfo, JobState
from pgqueue.notifier import Notifier
from pgqueue.repository import Repository, translated
from pgqueue.sql import query

logger = logging.getLogger("pgqueue.progress")

PROGRESS_CHANNEL = "pgqueue_progress"
DONE_CHANNEL = "pgqueue_done"
# A NOTIFY payload must stay under 8000 bytes; messages are cut well below that.
MAX_MESSAGE = 1000


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
            with translated(self.repository.dsn):
                row = await self.repository.pool.fetchrow(
                    query("job_progress"), job_id, value, message, self.worker_id
                )
        except DatabaseError as exc:
            # Progress is for watchers: losing a report must not fail the job itself.
            logger.warning(
                "progress of job %d not recorded: %s", job_id, exc, extra={"job_id": job_id}
            )
            return
        if row is None:
            # Rescued, cancelled or finished meanwhile: the report belongs to nobody now.
            logger.debug(
                "progress of job %d dropped: no longer held", job_id, extra={"job_id": job_id}
            )


def progress_event(job_id: int, progress: Any) -> ProgressEvent | None:
    """The event for a stored or notified progress object, None if there is none."""
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


def finished_event(info: JobInfo) -> FinishedEvent:
    return FinishedEvent(info.id, info.state, info.result, info.last_error)


class JobWatcher:
    """One LISTEN connection (progress and done channels) shared by every watch of an App."""

    def __init__(self, dsn: str | None) -> None:
        self.dsn = dsn
        self._queues: dict[int, list[asyncio.Queue[ProgressEvent | None]]] = {}
        self._notifier: Notifier | None = None

    async def subscribe(self, job_id: int) -> asyncio.Queue[ProgressEvent | None]:
        """A queue of the job's progress events; None in it means "look at the job again"
        (it finished, or the listener reconnected and may have missed something)."""
        queue: asyncio.Queue[ProgressEvent | None] = asyncio.Queue()
        self._queues.setdefault(job_id, []).append(queue)
        if self._notifier is None:
            self._notifier = Notifier(
                self.dsn,
                (PROGRESS_CHANNEL, DONE_CHANNEL),
                self._on_notification,
                on_connect=self._on_connect,
            )
            self._notifier.start()
        # Listening before the first look at the job, so nothing slips between them; if the
        # listener is slow, polling still gets every event.
        await self._notifier.wait_connected(timeout=2.0)
        return queue

    def unsubscribe(self, job_id: int, queue: asyncio.Queue[ProgressEvent | None]) -> None:
        queues = self._queues.get(job_id, [])
        if queue in queues:
            queues.remove(queue)
        if not queues:
            self._queues.pop(job_id, None)

    async def stop(self) -> None:
        if self._notifier is not None:
            notifier, self._notifier = self._notifier, None
            await notifier.stop()

    def _on_notification(self, channel: str, payload: str) -> None:
        if channel == DONE_CHANNEL:
            for part in payload.split(","):
                if part.isdigit():
                    for queue in self._queues.get(int(part), ()):
                        queue.put_nowait(None)
            return
        try:
            data = serialization.loads(payload)
        except SerializationError:
            return
        job_id = data.get("job_id") if isinstance(data, dict) else None
        if not isinstance(job_id, int) or job_id not in self._queues:
            return
        event = progress_event(job_id, data)
        if event is not None:
            for queue in self._queues[job_id]:
                queue.put_nowait(event)

    def _on_connect(self) -> None:
        for queues in self._queues.values():
            for queue in queues:
                queue.put_nowait(None)


async def watch(
    repository: Repository, watcher: JobWatcher, job_id: int, *, poll_interval: float = 5.0
) -> AsyncIterator[JobEvent]:
    """The job's progress events in order, ending with its outcome (FinishedEvent)."""
    queue = await watcher.subscribe(job_id)
    _drop_wakeups(queue)  # the first look at the job below covers them
    last_seq = 0
    try:
        while True:
            info = await repository.get_job(job_id)
            if info is None:
                raise JobNotFoundError(f"no job with id {job_id}")
            event = progress_event(job_id, info.progress)
            if event is not None and event.seq > last_seq:
                last_seq = event.seq
                yield event
            if info.state.is_finished:
                yield finished_event(info)
                return
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), poll_interval)
                except TimeoutError:
                    break  # poll the job
                if item is None:
                    # Look at the job again, but first pass on the reports already queued:
                    # the row only has the latest one.
                    for event in _drain(queue):
                        if event.seq > last_seq:
                            last_seq = event.seq
                            yield event
                    break
                if item.seq > last_seq:
                    last_seq = item.seq
                    yield item
    finally:
        watcher.unsubscribe(job_id, queue)


def _drain(queue: asyncio.Queue[ProgressEvent | None]) -> list[ProgressEvent]:
    events = []
    while not queue.empty():
        item = queue.get_nowait()
        if item is not None:
            events.append(item)
    return events


def _drop_wakeups(queue: asyncio.Queue[ProgressEvent | None]) -> None:
    for event in _drain(queue):
        queue.put_nowait(event)
