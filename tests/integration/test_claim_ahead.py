"""Claim ahead (pgqueue/_ready.py, docs/worker.md "Claim ahead"): while jobs are short a worker
claims beyond its free slots and starts those jobs as slots free; never more than `concurrency`
run at once; a stop puts the jobs claimed ahead back in the queue at once, their attempt not
counted; a cancel request ends one cancelled without running it."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

from pgqueue import App
from tests.helpers import count_states, fetch, fetchval, lose_claim, running_worker, wait_for


def record_claims(app: App, limits: list[int]) -> None:
    """Record the limit of every plain claim: the full one and the bounded one the claim cursor
    sends between full claims (docs/worker.md), which are most of them."""
    repository = app.repository
    full, bounded = repository.claim, repository.claim_after

    @functools.wraps(full)
    async def claim(queues: Any, limit: int, worker_id: str, **via: Any) -> Any:
        limits.append(limit)
        return await full(queues, limit, worker_id, **via)

    @functools.wraps(bounded)
    async def claim_after(queues: Any, limit: int, worker_id: str, keys: Any, **via: Any) -> Any:
        limits.append(limit)
        return await bounded(queues, limit, worker_id, keys, **via)

    repository.claim = claim  # type: ignore[method-assign]
    repository.claim_after = claim_after  # type: ignore[method-assign]


async def test_short_jobs_are_claimed_ahead_and_never_overrun_concurrency(
    app: App, dsn: str
) -> None:
    running = 0
    most = 0

    @app.task(name="short")
    async def short(n: int) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0)
        running -= 1

    await app.enqueue_many([short.job(n) for n in range(200)])
    await app.open()
    limits: list[int] = []
    record_claims(app, limits)
    async with running_worker(app, concurrency=2, prefetch=6):
        await wait_for(lambda: _finished(dsn, 200), timeout=30, message="200 jobs succeeded")
    assert limits[0] == 2  # no run time known yet: the free slots only
    assert max(limits) == 8  # then 2 slots + 6 ahead
    assert most == 2
    assert await count_states(dsn) == {"succeeded": 200}


async def _finished(dsn: str, n: int) -> bool:
    done = await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs WHERE state = 'succeeded'")
    return bool(done == n)


def _setup(app: App, ran: list[str]) -> tuple[Callable[..., Any], Callable[..., Any]]:
    @app.task(name="quick")
    async def quick(n: int) -> None:
        ran.append(f"quick{n}")

    @app.task(name="block")
    async def block() -> None:
        ran.append("block")
        await asyncio.Event().wait()  # until the stop interrupts it

    return quick, block


async def _held(dsn: str, worker_id: str) -> int:
    return int(
        await fetchval(
            dsn,
            "SELECT count(*) FROM pgqueue.jobs WHERE state = 'running' AND worker_id = $1",
            worker_id,
        )
    )


async def test_a_stop_puts_the_jobs_claimed_ahead_back_uncounted(app: App, dsn: str) -> None:
    ran: list[str] = []
    quick, block = _setup(app, ran)
    for n in range(5):
        await quick.using(priority=10).enqueue(n)
    await block.using(priority=5).enqueue()
    later = [await quick.enqueue(100 + n) for n in range(10)]
    async with running_worker(app, concurrency=1, prefetch=5) as worker:
        await wait_for(lambda: "block" in ran, message="the blocking job running")
        # The block runs in the one slot; later jobs are claimed ahead of it (how many depends
        # on how the claims fell: at least the one claimed with the block).
        await wait_for(lambda: _at_least(_held(dsn, worker.id), 2), message="jobs claimed ahead")
        await worker.stop(timeout=0.2)
    assert ran == [*(f"quick{n}" for n in range(5)), "block"]
    assert await count_states(dsn) == {"succeeded": 5, "queued": 11}
    rows = await fetch(
        dsn,
        "SELECT id, attempts, errors -> -1 ->> 'message' AS message FROM pgqueue.jobs "
        "WHERE state = 'queued' AND id = ANY($1::bigint[]) ORDER BY id",
        later,
    )
    put_back = [r for r in rows if r["message"] is not None]
    assert len(put_back) >= 1
    assert {r["attempts"] for r in rows} == {0}
    assert {r["message"] for r in put_back} == {"worker stopped before the job started"}


async def _is(value: Any, expected: int) -> bool:
    return bool(await value == expected)


async def _at_least(value: Any, expected: int) -> bool:
    return bool(await value >= expected)


async def test_a_job_claimed_ahead_is_cancelled_without_running(app: App, dsn: str) -> None:
    ran: list[str] = []
    quick, block = _setup(app, ran)
    for n in range(5):
        await quick.using(priority=10).enqueue(n)
    await block.using(priority=5).enqueue()
    victim = await quick.enqueue(100)
    async with running_worker(app, concurrency=1, prefetch=5, stop_timeout=0.2) as worker:
        await wait_for(lambda: "block" in ran, message="the blocking job running")
        await wait_for(lambda: _is(_held(dsn, worker.id), 2), message="the victim claimed ahead")
        assert await app.cancel(victim) == "cancelling"
        state = "SELECT state FROM pgqueue.jobs WHERE id = $1"
        await wait_for(lambda: _state_is(dsn, victim, "cancelled"), message="the victim cancelled")
        assert await fetchval(dsn, state, victim) == "cancelled"
    assert "quick100" not in ran


async def _state_is(dsn: str, job_id: int, state: str) -> bool:
    found = await fetchval(dsn, "SELECT state FROM pgqueue.jobs WHERE id = $1", job_id)
    return bool(found == state)


async def test_a_job_handed_back_into_hand_ends_its_earlier_attempt_at_the_claim(
    app: App, dsn: str
) -> None:
    """docs/reliability.md, "Claims commit asynchronously": a job whose claim was lost (the row
    made by hand as a crash leaves it) is claimed again by the worker still running its earlier
    attempt, with no slot free, so it waits in hand (claimed ahead). The earlier attempt is
    given up at the claim, not left to finish and record an outcome under the new claim's
    attempt and worker: the job runs again and ends with the second run's result."""
    runs: list[int] = []
    never = asyncio.Event()  # the first run would wait on it for ever

    @app.task(name="quick")
    async def quick() -> None:
        return None

    @app.task(name="held")
    async def held() -> int:
        runs.append(len(runs) + 1)
        if len(runs) == 1:
            await never.wait()
        return len(runs)

    async with running_worker(app, concurrency=1, prefetch=2, stop_timeout=0.2):
        # Short jobs first: the worker claims ahead only while the jobs it runs are short.
        await app.enqueue_many([quick.job() for _ in range(3)])
        await wait_for(lambda: _finished(dsn, 3), message="the short jobs")
        job = await held.enqueue()
        await wait_for(lambda: runs == [1], message="the first run")
        await lose_claim(dsn, job)
        await wait_for(lambda: runs == [1, 2], message="the second run")
        await wait_for(lambda: _state_is(dsn, job, "succeeded"), message="the job's outcome")
    rows = await fetch(dsn, "SELECT attempts, result FROM pgqueue.jobs WHERE id = $1", job)
    assert (rows[0]["attempts"], rows[0]["result"]) == (1, "2")
    assert not never.is_set()
