"""Timing of the worker's services, tested without sleeping: an injected clock (pgqueue/_clock.py)
stands in for the database's now() (promotion) and for the worker's monotonic time (the
rescuer's interval and its partition guard). Each test runs passes with `run_once()` or drives
`run()` by moving a ManualClock, and asserts on the rows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

import asyncpg

from pgqueue import App, Retry
from pgqueue._clock import Clock, ManualClock
from pgqueue._services.promoter import Promoter
from pgqueue._services.rescuer import Rescuer
from tests.helpers import count_states, fetchval, running_worker, wait_for
from tests.integration.test_rescue import add_running_job, add_worker

HOUR = 3600.0


async def database_now(dsn: str) -> datetime:
    value: datetime = await fetchval(dsn, "SELECT now()")
    return value


def later_by(start: datetime, seconds: float) -> Callable[[], datetime]:
    return lambda: start + timedelta(seconds=seconds)


async def test_a_job_scheduled_an_hour_ahead_is_promoted_when_the_clock_says_so(
    app: App, dsn: str
) -> None:
    @app.task(name="later")
    async def later() -> None: ...

    job_id = await later.using(delay=HOUR).enqueue()  # opens the app
    now = await database_now(dsn)
    promoter = Promoter(app.repository, interval=1.0, clock=ManualClock())
    await promoter.run_once()  # database time: not due
    assert await count_states(dsn) == {"scheduled": 1}
    promoter.clock = ManualClock(database_now=later_by(now, HOUR - 60))
    await promoter.run_once()  # a minute early
    assert await count_states(dsn) == {"scheduled": 1}
    promoter.clock = ManualClock(database_now=later_by(now, HOUR + 1))
    await promoter.run_once()
    assert await fetchval(dsn, "SELECT state FROM pgqueue.jobs WHERE id = $1", job_id) == "queued"
    assert promoter.promoted == 1


async def test_a_retry_an_hour_away_runs_at_once_under_a_clock_an_hour_ahead(
    app: App, dsn: str
) -> None:
    runs: list[int] = []

    @app.task(name="flaky", max_attempts=2)
    async def flaky() -> str:
        runs.append(len(runs) + 1)
        if len(runs) == 1:
            raise Retry(delay=HOUR)
        return "second"

    now = await database_now(dsn)
    clock = Clock(database_now=later_by(now, 2 * HOUR))
    job_id = await flaky.enqueue()
    async with running_worker(app, clock=clock, schedule_interval=0.05):
        assert await app.result(job_id, timeout=20) == "second"
    assert runs == [1, 2]
    assert await count_states(dsn) == {"succeeded": 1}


def rescuer(app: App, clock: ManualClock, beats: list[float]) -> Rescuer:
    return Rescuer(
        app.repository,
        heartbeat_interval=2.0,
        heartbeat_ttl=10.0,
        worker_retention=HOUR,
        last_beat_ok=lambda: beats[-1],
        clock=clock,
    )


async def test_a_rescuer_whose_own_beats_are_a_ttl_old_rescues_nothing(app: App, dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        silent = await add_worker(conn, state="running", beat_ago="1 min", ttl="1 s", name="gone")
        job_id = await add_running_job(conn, silent)
    finally:
        await conn.close()
    await app.open()
    clock = ManualClock()
    beats = [clock.monotonic()]
    service = rescuer(app, clock, beats)
    clock.advance(10.5)  # our own last beat got through 10.5 s ago: more than our 10 s ttl
    await service.run_once()
    assert service.skipped == 1 and service.rescued == 0
    assert await fetchval(dsn, "SELECT state FROM pgqueue.jobs WHERE id = $1", job_id) == "running"
    beats.append(clock.monotonic())  # a beat reached the database again
    await service.run_once()
    assert service.skipped == 1 and service.rescued == 1
    assert await fetchval(dsn, "SELECT state FROM pgqueue.jobs WHERE id = $1", job_id) == "queued"
    assert await fetchval(dsn, "SELECT state FROM pgqueue.workers WHERE id = $1", silent) == "lost"


async def test_rescue_passes_come_every_interval_of_the_clock(app: App, dsn: str) -> None:
    await app.open()
    clock = ManualClock()
    beats = [clock.monotonic()]
    service = rescuer(app, clock, beats)  # interval 2 s, jittered between 1 s and 3 s
    task = service.start()
    try:
        await wait_for(lambda: service.passes == 1 and clock.sleepers == 1, message="first pass")
        clock.advance(0.9)  # under the shortest jittered interval
        for _ in range(20):
            await asyncio.sleep(0)
        assert service.passes == 1
        conn = await asyncpg.connect(dsn)
        try:
            silent = await add_worker(conn, state="running", beat_ago="1 min", ttl="1 s", name="x")
            job_id = await add_running_job(conn, silent)
        finally:
            await conn.close()
        beats.append(clock.monotonic())
        clock.advance(2.2)  # past the longest jittered interval
        await wait_for(lambda: service.passes == 2, message="second pass")
        assert service.rescued == 1
        assert await fetchval(dsn, "SELECT state FROM pgqueue.jobs WHERE id = $1", job_id) == (
            "queued"
        )
    finally:
        await service.stop()
    assert task.done()
