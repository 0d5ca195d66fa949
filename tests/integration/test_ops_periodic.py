"""Periodic tasks: exactly one job per tick with several workers, across leader changes and
restarts, no burst after an outage. Time is injected (a fake clock), never slept."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest
from croniter import CroniterBadDateError

from pgqueue import App, TaskRegistrationError, Worker
from pgqueue._maintenance import Scheduler
from pgqueue._periodic import PeriodicSchedule
from tests.helpers import fetch, fetchval, wait_for


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def at(hhmmss: str) -> datetime:
    # In the past, so a tick's job (run_at = the tick) is runnable at once.
    return datetime.fromisoformat(f"2020-01-01T{hhmmss}").replace(tzinfo=UTC)


def make_app(dsn: str) -> App:
    app = App(dsn)

    @app.periodic(cron="* * * * *", name="every-minute")
    @app.task(name="tick")
    async def tick(label: str = "default") -> str:
        return label

    return app


async def start_worker(app: App, clock: FakeClock) -> Worker:
    worker = app.worker(
        poll_interval=0.2,
        schedule_interval=0.05,
        maintenance_lease_ttl=1.0,
        prune_interval=3600.0,
    )
    worker.ops.clock = clock
    await worker.start()
    return worker


async def tick_times(dsn: str) -> list[datetime]:
    rows = await fetch(dsn, "SELECT run_at FROM pgqueue.jobs WHERE task = 'tick' ORDER BY run_at")
    return [r["run_at"] for r in rows]


def leaders(workers: list[Worker]) -> list[Worker]:
    return [w for w in workers if w.ops.maintenance is not None and w.ops.maintenance.is_leader]


async def settle(workers: list[Worker], passes: int = 3) -> None:
    """Wait until the leader has run `passes` more passes: anything due has been enqueued."""
    await wait_for(lambda: len(leaders(workers)) == 1, message="one leader")
    leader = leaders(workers)[0]
    assert leader.ops.maintenance is not None
    target = leader.ops.maintenance.passes + passes
    await wait_for(
        lambda: leader.ops.maintenance is not None and leader.ops.maintenance.passes >= target,
        message="leader passes",
    )


async def test_one_job_per_tick_with_three_workers(dsn: str) -> None:
    clock = FakeClock(at("10:00:30"))
    apps = [make_app(dsn) for _ in range(3)]
    workers = [await start_worker(a, clock) for a in apps]
    try:
        await settle(workers)
        assert await tick_times(dsn) == []
        registered = await fetch(
            dsn, "SELECT name, task, cron, registered_at FROM pgqueue.schedules"
        )
        assert [(r["name"], r["task"], r["cron"], r["registered_at"]) for r in registered] == [
            ("every-minute", "tick", "* * * * *", at("10:00:30"))
        ]

        for n, now in enumerate(["10:01:05", "10:02:01"], start=1):
            clock.now = at(now)
            await wait_for(lambda n=n: _count(dsn, n), message=f"{n} ticks")
            await settle(workers)
            assert len(await tick_times(dsn)) == n

        # The leader stops (a deploy): another worker takes over and runs the next tick.
        old = leaders(workers)[0]
        await old.stop()
        workers.remove(old)
        clock.now = at("10:03:10")
        await wait_for(lambda: _count(dsn, 3), message="tick after the leader left")
        await settle(workers)

        # Every worker restarts; the 10:04 tick passes while they are down.
        for w in workers:
            await w.stop()
        clock.now = at("10:04:20")
        workers = [await start_worker(apps[0], clock)]
        await wait_for(lambda: _count(dsn, 4), message="tick missed during the restart")
        await settle(workers)

        # A long outage: only the latest missed tick (catch_up=1) and the current one run.
        await workers[0].stop()
        clock.now = at("10:30:20")
        workers = [await start_worker(apps[1], clock)]
        await wait_for(lambda: _count(dsn, 6), message="ticks after the outage")
        await settle(workers)
        assert await tick_times(dsn) == [
            at("10:01:00"),
            at("10:02:00"),
            at("10:03:00"),
            at("10:04:00"),
            at("10:29:00"),
            at("10:30:00"),
        ]
        last = await fetchval(dsn, "SELECT last_tick FROM pgqueue.schedules")
        assert last == at("10:30:00")
    finally:
        for w in workers:
            await w.stop()
        for a in apps:
            await a.close()


async def _count(dsn: str, n: int) -> bool:
    return bool(await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs WHERE task = 'tick'") >= n)


async def test_concurrent_schedulers_enqueue_each_tick_once(dsn: str) -> None:
    """Eight schedulers (as if eight workers all believed they lead) race over the same ticks."""
    apps = [make_app(dsn) for _ in range(8)]
    try:
        for a in apps:
            await a.open()
        schedulers = [
            Scheduler(a.repository, list(a.schedules.values()), _request_factory(a)) for a in apps
        ]
        await schedulers[0].register(at("09:59:30"))
        results = await asyncio.gather(*(s.run_due(at("10:03:30")) for s in schedulers))
    finally:
        for a in apps:
            await a.close()
    # 10:00 .. 10:03 fall in (09:59:30, 10:03:30]: 10:03 is within the 60 s grace; of the
    # ticks missed for longer only the latest runs (catch_up=1): 10:02.
    assert sum(results) == 2
    assert await tick_times(dsn) == [at("10:02:00"), at("10:03:00")]


async def test_a_frequent_cron_after_its_leader_dies_runs_no_burst(dsn: str) -> None:
    """Issue 14 item 15: a 2 s cron whose leader was killed; the next leader's first pass, 30 s
    on, enqueues the three latest late ticks and one caught up (docs/periodic.md), not 15."""
    app = App(dsn)

    @app.periodic(cron="*/2 * * * * *", name="every-2s")
    @app.task(name="tick")
    async def tick() -> None: ...

    try:
        await app.open()
        schedules = list(app.schedules.values())
        first, second = (
            Scheduler(app.repository, schedules, _request_factory(app)) for _ in range(2)
        )
        await first.register(at("09:59:59"))
        assert await first.run_due(at("10:00:00.5")) == 1
        # The first leader is SIGKILLed here; the second takes over 30 s later.
        assert await second.run_due(at("10:00:30.5")) == 4
    finally:
        await app.close()
    assert await tick_times(dsn) == [at(f"10:00:{n}") for n in ("00", 24, 26, 28, 30)]


def _request_factory(app: App):  # type: ignore[no-untyped-def]
    def make(schedule, tick):  # type: ignore[no-untyped-def]
        return app.request(schedule.task, schedule.args, schedule.kwargs, run_at=tick)

    return make


def test_periodic_decorator_forms() -> None:
    app = App("postgresql://unused@localhost/x")

    @app.periodic(cron="*/5 * * * *", timezone="Europe/Berlin", args=("nightly",))
    async def report(label: str) -> str:
        return label

    @app.periodic(cron="0 * * * *", name="hourly-report", catch_up=0)
    @app.periodic(cron="0 0 * * *", name="daily-report")
    @app.task(name="other", queue="reports")
    def other() -> None:
        return None

    assert report.name in app.registry
    assert sorted(app.schedules) == ["daily-report", "hourly-report", report.name]
    s = app.schedules[report.name]
    assert (s.task, s.cron, s.timezone, s.args, s.catch_up) == (
        report.name,
        "*/5 * * * *",
        "Europe/Berlin",
        ("nightly",),
        1,
    )
    assert app.schedules["hourly-report"].task == "other"
    assert app.schedules["hourly-report"].catch_up == 0

    with pytest.raises(TaskRegistrationError, match="args do not fit"):
        app.periodic(cron="* * * * *", name="x", args=(1, 2))(other)
    with pytest.raises(TaskRegistrationError, match="exists"):
        app.periodic(cron="* * * * *", name="daily-report")(other)
    with pytest.raises(TaskRegistrationError, match="invalid cron"):
        app.periodic(cron="every day", name="y")(other)


async def test_periodic_job_runs_with_its_arguments(dsn: str) -> None:
    app = App(dsn)
    seen: list[str] = []

    @app.periodic(cron="*/10 * * * * *", kwargs={"label": "ten-seconds"}, queue="cron")
    @app.task(name="labelled")
    async def labelled(label: str) -> None:
        seen.append(label)

    clock = FakeClock(at("10:00:01"))
    worker = app.worker(queues=("cron",), schedule_interval=0.05, poll_interval=0.2)
    worker.ops.clock = clock
    try:
        await worker.start()
        await wait_for(
            lambda: worker.ops.maintenance is not None and worker.ops.maintenance.passes > 0
        )
        clock.now = at("10:00:10")
        await wait_for(lambda: seen == ["ten-seconds"], message="the periodic job to run")
        rows = await fetch(dsn, "SELECT queue, run_at, kwargs::text AS kw FROM pgqueue.jobs")
        assert [(r["queue"], r["run_at"], r["kw"]) for r in rows] == [
            ("cron", at("10:00:10"), '{"label": "ten-seconds"}')
        ]
    finally:
        await worker.stop()
        await app.close()


class BrokenAtUse(PeriodicSchedule):
    """A schedule whose tick arithmetic fails when used, as croniter did on `0 0 30 2 *` (which
    registration now refuses) and as any other bug might."""

    def due_ticks(self, after: datetime, now: datetime) -> tuple[list[datetime], int]:
        raise CroniterBadDateError("failed to find prev date")


async def test_one_failing_schedule_never_stops_the_others(
    dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(dsn)  # "every-minute", a healthy schedule
    broken = BrokenAtUse(name="broken", task="tick", cron="* * * * *")
    schedules = [broken, *app.schedules.values()]  # the broken one runs first
    try:
        await app.open()
        scheduler = Scheduler(app.repository, schedules, _request_factory(app))
        await scheduler.register(at("09:59:30"))
        with caplog.at_level(logging.DEBUG, logger="pgqueue.maintenance"):
            first = await scheduler.run_due(at("10:00:30"))
            second = await scheduler.run_due(at("10:01:30"))
    finally:
        await app.close()
    assert (first, second) == (1, 1)
    assert await tick_times(dsn) == [at("10:00:00"), at("10:01:00")]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    # Logged once with its name and a traceback, not once per pass.
    assert [r.getMessage() for r in errors] == [
        "schedule broken: could not enqueue its tick (CroniterBadDateError: failed to find prev "
        "date); the other schedules run, this one is tried again every pass"
    ]
    assert errors[0].exc_info is not None and errors[0].schedule == "broken"  # type: ignore[attr-defined]
    assert scheduler.failing == {"broken": "CroniterBadDateError: failed to find prev date"}


async def test_a_worker_keeps_ticking_beside_a_failing_schedule(dsn: str) -> None:
    app = make_app(dsn)
    broken = BrokenAtUse(name="broken", task="tick", cron="* * * * *")
    app.schedules = {"broken": broken, **app.schedules}  # the broken one runs first
    clock = FakeClock(at("10:00:30"))  # the schedules count ticks from here
    worker = await start_worker(app, clock)
    try:
        await settle([worker])
        clock.now = at("10:01:30")
        await wait_for(lambda: _count(dsn, 1), message="the 10:01 tick")
        clock.now = at("10:02:30")
        await wait_for(lambda: _count(dsn, 2), message="the 10:02 tick")
        await settle([worker])
    finally:
        await worker.stop()
        await app.close()
    assert await tick_times(dsn) == [at("10:01:00"), at("10:02:00")]
