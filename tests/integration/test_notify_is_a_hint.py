"""Issue 8, item 3: a notification is only ever a hint to look at the table. PostgreSQL puts no
privilege on NOTIFY or LISTEN, so each test sends or listens as a role with no grants at all
(unique per test, dropped after): it cannot cancel a job, read a progress message, show a
watcher a forged event, or make a result waiter return early. Then a least-privileged producer
and worker (pgqueue.grant_producer / grant_worker) run a job from enqueue to succeeded."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from pgqueue import App, JobState, Worker, current_job
from pgqueue._progress import FinishedEvent, JobEvent, ProgressEvent
from pgqueue._services.cancel_check import NOTIFIED_INTERVAL as CANCEL_CHECK_INTERVAL
from tests.helpers import fetchval, running_worker, wait_for
from tests.roles import dsn_as, temporary_role


@pytest.fixture
async def outsider(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of a role that was granted nothing: it can connect, and nothing more."""
    with temporary_role(dsn, "outsider") as role:
        conn = await asyncpg.connect(dsn_as(role, dsn))
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="schema pgqueue"):
                await conn.fetchval("SELECT count(*) FROM pgqueue.jobs")
            yield conn
        finally:
            await conn.close()


async def state(dsn: str, job_id: int) -> str:
    return str(await fetchval(dsn, "SELECT state FROM pgqueue.jobs WHERE id = $1", job_id))


async def in_state(dsn: str, job_id: int, expected: str) -> bool:
    return await state(dsn, job_id) == expected


def gated_app(dsn: str) -> tuple[App, asyncio.Event]:
    app = App(dsn)
    gate = asyncio.Event()

    @app.task(name="wait_for_gate")
    async def wait_for_gate(label: str) -> str:
        await current_job().progress(0.0, f"{label} started")
        await gate.wait()
        return label

    return app, gate


async def cancel_a_second_job_for_real(app: App, dsn: str, worker: Worker) -> int:
    """A sentinel: a real cancel sends its notification after the forged ones, on the same
    channel, and notifications reach a listener in commit order. Once this job is cancelled
    (through the notification: heartbeats are a minute apart), the worker has handled every
    forged notification before it."""
    other = await app.registry.require("wait_for_gate").enqueue("sentinel")
    await wait_for(lambda: other in worker._attempts.running, message="the sentinel job running")
    assert await app.cancel(other) == "cancelling"
    await wait_for(
        lambda: in_state(dsn, other, "cancelled"), timeout=10, message="sentinel cancelled"
    )
    return other


async def count_cancel_reads(app: App) -> list[float]:
    """Record when the app's workers read their cancel requests from the table."""
    repository = app.repository
    original = repository.cancel_requested
    reads: list[float] = []

    async def counted(worker_id: str) -> list[int]:
        reads.append(time.monotonic())
        return await original(worker_id)

    repository.cancel_requested = counted  # type: ignore[method-assign]
    return reads


async def test_a_forged_cancel_notification_cancels_nothing(
    dsn: str, outsider: asyncpg.Connection
) -> None:
    app, gate = gated_app(dsn)
    try:
        job_id = await app.registry.require("wait_for_gate").enqueue("victim")
        async with running_worker(
            app, concurrency=2, heartbeat_interval=60, heartbeat_ttl=120
        ) as w:
            await wait_for(lambda: in_state(dsn, job_id, "running"), message="the job running")
            await outsider.execute(f"NOTIFY pgqueue_cancel, '{job_id}'")
            await cancel_a_second_job_for_real(app, dsn, w)
            assert await state(dsn, job_id) == "running"
            gate.set()
            assert await app.result(job_id, timeout=20) == "victim"
    finally:
        await app.close()
    assert await state(dsn, job_id) == "succeeded"
    assert (
        await fetchval(dsn, "SELECT cancel_requested_at FROM pgqueue.jobs WHERE id = $1", job_id)
        is None
    )


async def test_a_flood_of_forged_cancel_notifications_costs_one_read_per_interval(
    dsn: str, outsider: asyncpg.Connection
) -> None:
    app, gate = gated_app(dsn)
    try:
        job_id = await app.registry.require("wait_for_gate").enqueue("victim")
        async with running_worker(
            app, concurrency=2, heartbeat_interval=60, heartbeat_ttl=120
        ) as w:
            await wait_for(lambda: in_state(dsn, job_id, "running"), message="the job running")
            reads = await count_cancel_reads(app)
            started = time.monotonic()
            for n in range(300):  # separate transactions: identical ones would be folded
                await outsider.execute(f"NOTIFY pgqueue_cancel, '{job_id}'")
                await outsider.execute(f"NOTIFY pgqueue_cancel, '{'9' * 5000},{n}'")
            await cancel_a_second_job_for_real(app, dsn, w)
            elapsed = time.monotonic() - started
            assert await state(dsn, job_id) == "running"
            gate.set()
            assert await app.result(job_id, timeout=20) == "victim"
    finally:
        await app.close()
    # 600 notifications: at most one read per CANCEL_CHECK_INTERVAL (+ the first and the last).
    assert 1 <= len(reads) <= elapsed / CANCEL_CHECK_INTERVAL + 2, (len(reads), elapsed)
    gaps = [b - a for a, b in itertools.pairwise(reads)]
    assert all(gap >= CANCEL_CHECK_INTERVAL * 0.9 for gap in gaps), gaps


async def test_a_listener_without_grants_hears_no_progress_message(
    dsn: str, outsider: asyncpg.Connection
) -> None:
    heard: list[str] = []
    await outsider.add_listener("pgqueue_progress", lambda *args: heard.append(args[3]))
    app = App(dsn)

    @app.task(name="confidential")
    async def confidential() -> str:
        await current_job().progress(0.5, "secret: customer 4711, balance 1,000,000")
        return "done"

    try:
        job_id = await confidential.enqueue()
        async with running_worker(app):
            assert await app.result(job_id, timeout=20) == "done"
            await wait_for(lambda: bool(heard), message="the progress notification")
            events = [event async for event in app.watch(job_id)]
    finally:
        await app.close()
    assert heard == [str(job_id)]  # which job changed, nothing else
    # The report itself is in the table, for roles allowed to read it.
    progress = [e for e in events if isinstance(e, ProgressEvent)]
    assert [p.message for p in progress] == ["secret: customer 4711, balance 1,000,000"]


async def test_a_forged_progress_event_never_reaches_a_watcher(
    dsn: str, outsider: asyncpg.Connection
) -> None:
    app = App(dsn)
    gate = asyncio.Event()

    @app.task(name="steps")
    async def steps() -> str:
        job = current_job()
        await job.progress(0.1, "step 1")
        await gate.wait()
        await job.progress(0.5, "step 2")
        await job.progress(0.9, "step 3")
        return "finished"

    events: list[JobEvent] = []
    try:
        job_id = await steps.enqueue()
        async with running_worker(app):
            async for event in app.watch(job_id, poll_interval=30):
                events.append(event)
                if len(events) == 1:
                    forged = (
                        f'{{"job_id": {job_id}, "seq": 99, "value": 1.0, "message": "100% done"}}'
                    )
                    for payload in (forged, str(job_id), f"{job_id},{job_id}", "x" * 7000):
                        await outsider.execute("SELECT pg_notify('pgqueue_progress', $1)", payload)
                        await outsider.execute("SELECT pg_notify('pgqueue_done', $1)", payload)
                    gate.set()
    finally:
        await app.close()
    assert [(e.seq, e.message) for e in events if isinstance(e, ProgressEvent)] == [
        (1, "step 1"),
        (2, "step 2"),
        (3, "step 3"),
    ]
    assert events[-1] == FinishedEvent(job_id, JobState.SUCCEEDED, "finished", None)
    assert len(events) == 4


async def test_a_forged_done_notification_costs_a_result_waiter_only_a_read(
    dsn: str, outsider: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    app, gate = gated_app(dsn)
    reads: list[int] = []
    original = app.get_job

    async def counted(job_id: int) -> Any:
        reads.append(job_id)
        return await original(job_id)

    app.get_job = counted  # type: ignore[method-assign]
    try:
        job_id = await app.registry.require("wait_for_gate").enqueue("real")
        async with running_worker(app):
            waiter = asyncio.create_task(app.result(job_id, poll_interval=30))
            await wait_for(lambda: in_state(dsn, job_id, "running"), message="the job running")
            await wait_for(lambda: len(reads) >= 1, message="the waiter's first read")
            before = len(reads)
            for payload in (str(job_id), f"1,{job_id},2", "²", "9" * 5000, ""):
                await outsider.execute("SELECT pg_notify('pgqueue_done', $1)", payload)
            await wait_for(lambda: len(reads) > before, message="a read after the forgery")
            assert not waiter.done()
            gate.set()
            assert await asyncio.wait_for(waiter, 20) == "real"
    finally:
        await app.close()
    assert set(reads) == {job_id}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_least_privileged_producer_and_worker_run_a_job(
    dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    """docs/security.md: grant_producer gives enqueue and nothing else; grant_worker what a
    worker does (claim, outcomes, progress, heartbeats, rescue, the lease, cron ticks, pruning)."""
    caplog.set_level(logging.INFO, logger="pgqueue")
    with (
        temporary_role(dsn, "producer") as producer,
        temporary_role(dsn, "worker") as worker_role,
    ):
        admin = await asyncpg.connect(dsn)
        try:
            await admin.execute("SELECT pgqueue.grant_producer($1)", producer)
            await admin.execute("SELECT pgqueue.grant_worker($1)", worker_role)
        finally:
            await admin.close()

        served = App(dsn_as(worker_role, dsn))

        @served.task(name="shop.confirm")
        async def confirm(order: int) -> int:
            await current_job().progress(1.0, f"order {order}")
            return order

        @served.periodic(cron="* * * * * *", name="every_second")
        @served.task(name="shop.tick")
        def tick() -> None: ...

        client = App(dsn_as(producer, dsn))
        try:
            job_id = await client.enqueue("shop.confirm", [42], allow_unknown=True)
            unique = await client.enqueue(
                "shop.confirm", [43], unique_key="order-43", allow_unknown=True
            )
            again = await client.enqueue(
                "shop.confirm", [43], unique_key="order-43", allow_unknown=True
            )
            assert again == unique
            conn = await asyncpg.connect(dsn_as(producer, dsn))
            try:
                for statement in (
                    "SELECT count(*) FROM pgqueue.jobs",
                    "UPDATE pgqueue.jobs SET priority = 99",
                    "DELETE FROM pgqueue.jobs",
                    "INSERT INTO pgqueue.jobs (task) VALUES ('sneaky')",
                    "SELECT * FROM pgqueue.queue_stats",
                    "SELECT pgqueue.cancel(1)",
                ):
                    with pytest.raises(asyncpg.InsufficientPrivilegeError):
                        await conn.execute(statement)
            finally:
                await conn.close()
            async with running_worker(served, prune_interval=0.2, retention_succeeded=3600) as w:
                assert await served.result(job_id, timeout=20) == 42
                assert await served.result(unique, timeout=20) == 43
                assert w.ops.maintenance is not None
                maintenance = w.ops.maintenance
                await wait_for(lambda: maintenance.prune_passes >= 1, message="a prune pass")
                await wait_for(
                    lambda: fetchval(
                        dsn,
                        "SELECT count(*) FROM pgqueue.jobs "
                        "WHERE task = 'shop.tick' AND state = 'succeeded'",
                    ),
                    message="a periodic tick enqueued by the worker role and run",
                )
                assert await served.cancel(job_id) == "succeeded"
        finally:
            await client.close()
            await served.close()
        rows = await fetchval(
            dsn,
            "SELECT count(*) FROM pgqueue.jobs WHERE task = 'shop.confirm' AND state = 'succeeded'",
        )
        assert rows == 2
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not problems, problems
