"""The claim, seen from a worker: which job runs next across several queues, that locked rows
are skipped rather than waited on, and that one claim never takes more than the free slots."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from pgqueue import App
from pgqueue._sql import query
from tests.helpers import (
    all_finished,
    count_states,
    fetchval,
    one_success,
    running_worker,
    wait_for,
)


def recording_task(app: App, order: list[str]) -> None:
    @app.task(name="record")
    async def record(label: str) -> None:
        order.append(label)


async def test_claim_takes_highest_priority_across_queues(app: App, dsn: str) -> None:
    order: list[str] = []
    recording_task(app, order)
    task = app.registry.require("record")
    # Enqueued in an order that differs from priority order, in both queues.
    for label, queue, priority in [
        ("a5", "a", 5),
        ("b1", "b", 1),
        ("a0", "a", 0),
        ("b10", "b", 10),
        ("a7", "a", 7),
    ]:
        await task.using(queue=queue, priority=priority).enqueue(label)
    async with running_worker(app, queues=("a", "b"), concurrency=1):
        await wait_for(lambda: all_finished(dsn, 5), message="five jobs")
    assert order == ["b10", "a7", "a5", "b1", "a0"]


async def test_claim_takes_the_oldest_job_first_across_queues(app: App, dsn: str) -> None:
    order: list[str] = []
    recording_task(app, order)
    task = app.registry.require("record")
    for label, queue in [("1", "b"), ("2", "a"), ("3", "b"), ("4", "a"), ("5", "a")]:
        await task.using(queue=queue).enqueue(label)
    async with running_worker(app, queues=("a", "b"), concurrency=1):
        await wait_for(lambda: all_finished(dsn, 5), message="five jobs")
    assert order == ["1", "2", "3", "4", "5"]


async def test_claim_skips_jobs_locked_by_another_transaction(app: App, dsn: str) -> None:
    order: list[str] = []
    recording_task(app, order)
    task = app.registry.require("record")
    locked = await task.enqueue("locked")
    free = await task.enqueue("free")
    holder = await asyncpg.connect(dsn)
    try:
        tx = holder.transaction()
        await tx.start()
        await holder.fetchval("SELECT id FROM pgqueue.jobs WHERE id = $1 FOR UPDATE", locked)
        async with running_worker(app, concurrency=1):
            try:
                # A claim that waited on the lock would run nothing while it is held.
                assert await app.result(free, timeout=15) is None
                assert order == ["free"]
                state = await fetchval(dsn, "SELECT state FROM pgqueue.jobs WHERE id=$1", locked)
                assert state == "queued"
            finally:
                await tx.rollback()
            await app.result(locked, timeout=15)
    finally:
        await holder.close()
    assert order == ["free", "locked"]


async def test_claim_never_takes_more_than_the_free_slots_across_queues(app: App, dsn: str) -> None:
    gate = asyncio.Event()
    started: list[int] = []

    @app.task(name="held")
    async def held(n: int) -> None:
        started.append(n)
        await gate.wait()

    for n in range(10):
        await held.using(queue="a" if n % 2 else "b").enqueue(n)
    try:
        async with running_worker(app, queues=("a", "b"), concurrency=3):
            await wait_for(lambda: len(started) == 3, message="three jobs running")
            # One claim statement marks all it takes running at once: had it taken more than
            # the three free slots, the extra rows would be running already.
            assert await count_states(dsn) == {"running": 3, "queued": 7}
            gate.set()
            await wait_for(lambda: all_finished(dsn, 10), message="all ten jobs")
    finally:
        gate.set()
    assert sorted(started) == list(range(10))


WORKER = "00000000-0000-4000-8000-0000000000c1"
NO_KEY = ([None], [None], [None])  # job_claim_after.sql's key for a queue it scans from the head
# The session commits as a production server does, whatever the test server is configured
# with: the embedded PostgreSQL turns synchronous_commit off everywhere for speed.
PRODUCTION_COMMIT = {"synchronous_commit": "on"}


@pytest.mark.parametrize(("name", "extra"), [("job_claim", ()), ("job_claim_after", NO_KEY)])
async def test_a_claim_commits_without_waiting_for_the_disk(
    app: App, dsn: str, name: str, extra: tuple[object, ...]
) -> None:
    """docs/reliability.md, "Claims commit asynchronously": synchronous_commit is off for the
    claim's own transaction, and only for it."""
    job = await app.enqueue("t", allow_unknown=True)
    conn = await asyncpg.connect(dsn, server_settings=PRODUCTION_COMMIT)
    try:
        configured = await conn.fetchval("SELECT current_setting('synchronous_commit')")
        assert configured == "on"
        async with conn.transaction():
            rows = await conn.fetch(query(name), ["default"], 10, WORKER, *extra)
            assert [r["id"] for r in rows] == [job]
            assert await conn.fetchval("SELECT current_setting('synchronous_commit')") == "off"
        assert await conn.fetchval("SELECT current_setting('synchronous_commit')") == configured
    finally:
        await conn.close()
    assert await count_states(dsn) == {"running": 1}


async def test_an_outcome_waits_for_the_disk(app: App, dsn: str) -> None:
    """Unlike the claim, the outcome write keeps the server's synchronous_commit: a worker
    forgets an outcome once written, so it must survive a crash of PostgreSQL."""
    job = await app.enqueue("t", allow_unknown=True)
    conn = await asyncpg.connect(dsn, server_settings=PRODUCTION_COMMIT)
    try:
        configured = await conn.fetchval("SELECT current_setting('synchronous_commit')")
        assert configured == "on"
        claimed = await conn.fetch(query("job_claim"), ["default"], 1, WORKER)
        assert [r["id"] for r in claimed] == [job]
        async with conn.transaction():
            recorded = await conn.fetchval(query("job_complete_many"), *one_success(job, WORKER))
            assert recorded == 1
            assert await conn.fetchval("SELECT current_setting('synchronous_commit')") == configured
    finally:
        await conn.close()
    assert await count_states(dsn) == {"succeeded": 1}
