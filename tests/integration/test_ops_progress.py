"""Progress: reports are stored on the job, pushed with NOTIFY, and app.watch() yields them in
order, ending with the outcome."""

from __future__ import annotations

import asyncio
import json

import pytest

from pgqueue import App, JobNotFoundError, JobState, current_job
from pgqueue._progress import (
    RECENT,
    FinishedEvent,
    JobEvent,
    ProgressEvent,
    ProgressReporter,
    progress_events,
)
from tests.helpers import fetchval, running_worker, wait_for


def make_app(dsn: str, gate: asyncio.Event) -> App:
    app = App(dsn)

    @app.task(name="crunch")
    async def crunch(steps: int) -> str:
        job = current_job()
        await job.progress(0.0, "starting")
        await gate.wait()
        for n in range(1, steps + 1):
            await job.progress(n / steps, f"step {n}")
        return "crunched"

    @app.task(name="crunch_sync")
    def crunch_sync(steps: int) -> int:
        job = current_job()
        for n in range(1, steps + 1):
            job.progress_sync(n, f"row {n}")
        return steps

    @app.task(name="explode", max_attempts=1)
    async def explode() -> None:
        await current_job().progress(0.5, "about to fail")
        raise ValueError("kaboom")

    return app


async def collect(app: App, job_id: int) -> list[JobEvent]:
    return [event async for event in app.watch(job_id, poll_interval=30)]


async def test_events_arrive_in_order_then_the_outcome(dsn: str) -> None:
    gate = asyncio.Event()
    app = make_app(dsn, gate)
    try:
        job_id = await app.registry.require("crunch").enqueue(4)
        async with running_worker(app):
            events: list[JobEvent] = []
            async for event in app.watch(job_id, poll_interval=30):
                events.append(event)
                if len(events) == 1:
                    gate.set()  # the watcher is live: let the task report the rest
    finally:
        await app.close()
    assert events == [
        ProgressEvent(job_id, 1, 0.0, "starting", events[0].at),  # type: ignore[union-attr]
        *[
            ProgressEvent(job_id, n + 1, n / 4, f"step {n}", events[n].at)  # type: ignore[union-attr]
            for n in range(1, 5)
        ],
        FinishedEvent(job_id, JobState.SUCCEEDED, "crunched", None),
    ]
    stored = json.loads(await fetchval(dsn, "SELECT progress::text FROM pgqueue.jobs"))
    assert {k: stored[k] for k in ("value", "message", "seq")} == {
        "value": 1.0,
        "message": "step 4",
        "seq": 5,
    }


async def test_several_watchers_see_the_same_events(dsn: str) -> None:
    gate = asyncio.Event()
    app = make_app(dsn, gate)
    other = App(dsn)
    seen: list[list[JobEvent]] = [[], [], []]

    async def follow(a: App, into: list[JobEvent]) -> None:
        async for event in a.watch(job_id, poll_interval=30):
            into.append(event)

    try:
        job_id = await app.registry.require("crunch").enqueue(2)
        watchers = [
            asyncio.create_task(follow(a, into))
            for a, into in zip((app, app, other), seen, strict=True)
        ]
        async with running_worker(app):
            # Once every watcher has the first report, the rest can only reach them live.
            await wait_for(lambda: all(seen), message="every watcher's first event")
            gate.set()
            await asyncio.wait_for(asyncio.gather(*watchers), 20)
    finally:
        await app.close()
        await other.close()
    seqs = [[e.seq for e in events if isinstance(e, ProgressEvent)] for events in seen]
    assert seqs == [[1, 2, 3]] * 3
    assert all(
        events[-1] == FinishedEvent(job_id, JobState.SUCCEEDED, "crunched") for events in seen
    )


async def test_sync_task_reports_through_progress_sync(dsn: str) -> None:
    app = make_app(dsn, asyncio.Event())
    try:
        job_id = await app.registry.require("crunch_sync").enqueue(3)
        async with running_worker(app):
            events = await asyncio.wait_for(collect(app, job_id), 20)
    finally:
        await app.close()
    progress = [e for e in events if isinstance(e, ProgressEvent)]
    # The watcher may join after the first reports: what it sees is in order and ends at 3.
    assert [e.seq for e in progress] == sorted({e.seq for e in progress})
    assert progress[-1].value == 3.0 and progress[-1].message == "row 3"
    assert events[-1] == FinishedEvent(job_id, JobState.SUCCEEDED, 3, None)


async def test_failed_job_ends_the_watch_with_its_error(dsn: str) -> None:
    app = make_app(dsn, asyncio.Event())
    try:
        job_id = await app.registry.require("explode").enqueue()
        async with running_worker(app):
            events = await asyncio.wait_for(collect(app, job_id), 20)
        # A finished job: just its last progress and the outcome.
        again = await collect(app, job_id)
    finally:
        await app.close()
    final = events[-1]
    assert isinstance(final, FinishedEvent) and final.state == JobState.DEAD
    assert final.error is not None
    assert (final.error["type"], final.error["message"]) == ("ValueError", "kaboom")
    assert [type(e) for e in again] == [ProgressEvent, FinishedEvent]
    assert again[0].value == 0.5  # type: ignore[union-attr]


async def test_unknown_job(dsn: str) -> None:
    app = App(dsn)
    try:
        with pytest.raises(JobNotFoundError):
            await collect(app, 424242)
    finally:
        await app.close()


async def test_reports_from_a_worker_that_lost_the_job_are_dropped(dsn: str, app: App) -> None:
    job_id = await app.enqueue("t", allow_unknown=True)
    await app.open()
    reporter = ProgressReporter(app.repository, "00000000-0000-0000-0000-000000000001")
    await reporter(job_id, 0.5, "not mine")  # queued, not running: dropped
    await fetchval(
        dsn,
        "UPDATE pgqueue.jobs SET state = 'running', worker_id = $1::uuid RETURNING id",
        "00000000-0000-0000-0000-000000000002",
    )
    await reporter(job_id, 0.6, "someone else's")
    assert await fetchval(dsn, "SELECT progress FROM pgqueue.jobs") is None
    mine = ProgressReporter(app.repository, "00000000-0000-0000-0000-000000000002")
    await mine(job_id, 0.7, "mine")
    stored = json.loads(await fetchval(dsn, "SELECT progress::text FROM pgqueue.jobs"))
    assert (stored["value"], stored["message"], stored["seq"]) == (0.7, "mine", 1)


async def test_the_row_keeps_the_last_twenty_reports_for_watchers(dsn: str, app: App) -> None:
    """Watchers read reports from the row (the notification carries only the id), so the row
    keeps the latest RECENT of them, in order: quick reports between two reads are not lost."""
    job_id = await app.enqueue("t", allow_unknown=True)
    worker_id = "00000000-0000-0000-0000-000000000003"
    await fetchval(
        dsn, "UPDATE pgqueue.jobs SET state = 'running', worker_id = $1::uuid", worker_id
    )
    await app.open()
    reporter = ProgressReporter(app.repository, worker_id)
    for n in range(1, 26):
        await reporter(job_id, n / 25, f"report {n}")
    stored = json.loads(await fetchval(dsn, "SELECT progress::text FROM pgqueue.jobs"))
    assert RECENT == 20
    assert [r["seq"] for r in stored["recent"]] == list(range(6, 26))
    assert stored["recent"][-1] == {k: stored[k] for k in ("value", "message", "seq", "at")}
    events = progress_events(job_id, stored)
    assert [(e.seq, e.message) for e in events] == [(n, f"report {n}") for n in range(6, 26)]
