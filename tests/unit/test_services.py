"""The one base of every background service (pgqueue/_services/_base.py), driven by a
ManualClock: intervals, jitter, backoff after errors and wake-ups, all without sleeping."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pgqueue._backoff import jittered
from pgqueue._clock import ManualClock
from pgqueue._services._base import Service
from pgqueue.errors import DatabaseUnavailableError


class Counting(Service):
    name = "counting"
    what = "counting pass"

    def __init__(self, clock: ManualClock, failures: list[BaseException | None]) -> None:
        super().__init__(interval=5.0, clock=clock)
        self.failures = failures
        self.calls = 0

    async def run_once(self) -> None:
        self.calls += 1
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure


async def settle(clock: ManualClock, service: Counting, calls: int) -> None:
    """Let the service's task run until it made `calls` calls and waits on the clock again."""
    for _ in range(1000):
        if service.calls == calls and clock.sleepers == 1:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{service.calls} calls, {clock.sleepers} sleepers; expected {calls}")


async def test_a_pass_runs_every_interval_of_the_clock() -> None:
    clock = ManualClock()
    service = Counting(clock, [])
    service.start()
    try:
        await settle(clock, service, 1)
        clock.advance(4.9)
        await settle(clock, service, 1)
        clock.advance(0.1)
        await settle(clock, service, 2)
        assert service.passes == 2
    finally:
        await service.stop()


async def test_a_poke_runs_the_next_pass_at_once() -> None:
    clock = ManualClock()
    service = Counting(clock, [])
    service.start()
    try:
        await settle(clock, service, 1)
        service.poke()
        await settle(clock, service, 2)
        assert clock.monotonic() == 0.0
    finally:
        await service.stop()


async def test_errors_back_off_and_never_end_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    outage = DatabaseUnavailableError("database away")
    service = Counting(clock, [outage, outage, ValueError("a bug")])
    caplog.set_level(logging.WARNING, "pgqueue.worker")
    assert 0.25 <= await service.run_guarded() <= 0.5  # first backoff step, jittered
    assert 0.5 <= await service.run_guarded() <= 1.0  # doubled
    assert 1.0 <= await service.run_guarded() <= 2.0  # a bug backs off the same way
    assert service.passes == 0
    assert await service.run_guarded() == 5.0  # a good pass: back to the interval
    assert service.passes == 1 and service.backoff.attempt == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage().split(";")[0] for r in warnings] == [
        "counting pass failed (database away)"
    ] * 2
    [bug] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert bug.exc_info is not None and bug.exc_info[0] is ValueError


async def test_stop_ends_a_service_waiting_on_its_clock() -> None:
    clock = ManualClock()
    service = Counting(clock, [])
    task = service.start()
    await settle(clock, service, 1)
    await service.stop()
    assert task.cancelled() and clock.sleepers == 0


def test_jitter_spreads_an_interval_both_ways() -> None:
    spread = [jittered(2.0, 0.5) for _ in range(2000)]
    assert all(1.0 <= d <= 3.0 for d in spread)
    assert min(spread) < 1.2 and max(spread) > 2.8
    assert jittered(2.0, 0.0) == 2.0


async def test_a_poke_during_a_pass_is_not_lost() -> None:
    clock = ManualClock()

    class PokedWhileRunning(Counting):
        async def run_once(self) -> None:
            await super().run_once()
            if self.calls == 1:
                self.poke()  # as a notification arriving while the pass runs

    service = PokedWhileRunning(clock, [])
    service.start()
    try:
        await settle(clock, service, 2)
        assert clock.monotonic() == 0.0
    finally:
        await service.stop()
