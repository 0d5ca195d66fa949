"""Heartbeats, rescue of jobs from dead workers, cancellation and worker bookkeeping, in process.
(Fault tests with real processes, restarts and proxies live in test_faults.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from typing import Any

import pytest

from pgqueue import App, JobFailedError, JobNotFoundError, JobState, current_job
from pgqueue._admin import Admin
from pgqueue._repository import OutcomeRow
from tests.helpers import count_states, fetch, fetchval, running_worker, wait_for

# Fast beats (and rescue passes, which run every heartbeat_interval) but a generous ttl: the
# lost workers in these tests are rows with an hour-old heartbeat and a 1 s ttl of their own,
# so the live worker's ttl plays no part in finding them, and a loaded machine that delays a
# beat by a second or two must not get a live worker declared lost (and its jobs rerun).
FAST = {"heartbeat_interval": 0.2, "heartbeat_ttl": 30.0}


async def orphan_jobs(
    dsn: str,
    n: int,
    *,
    attempts: int = 1,
    max_attempts: int | None = None,
    worker_row: str | None = "stale",
) -> list[int]:
    """Jobs left running by a worker that died: its row is stale, or gone (pruned)."""
    dead = str(uuid.uuid4())
    if worker_row == "stale":
        await fetchval(
            dsn,
            "INSERT INTO pgqueue.workers (id, hostname, pid, queues, concurrency, version, "
            "heartbeat_ttl, last_heartbeat) VALUES ($1, 'gone-host', 1, '{default}', 1, 'x', "
            "interval '1 second', now() - interval '1 hour')",
            dead,
        )
    rows = await fetch(
        dsn,
        "INSERT INTO pgqueue.jobs (task, state, attempts, max_attempts, worker_id, started_at) "
        "SELECT 'job', 'running', $1, $2, $3::uuid, now() FROM generate_series(1, $4) RETURNING id",
        attempts,
        max_attempts,
        dead,
        n,
    )
    return [r["id"] for r in rows]


def define_job(app: App, runs: list[int] | None = None) -> None:
    @app.task(name="job")
    async def job() -> int:
        if runs is not None:
            runs.append(current_job().job_id)
        return current_job().attempt


@pytest.mark.parametrize("worker_row", ["stale", "pruned"])
async def test_jobs_of_a_dead_worker_are_rescued_and_run(
    app: App, dsn: str, worker_row: str
) -> None:
    runs: list[int] = []
    define_job(app, runs)
    ids = await orphan_jobs(dsn, 3, max_attempts=3, worker_row=worker_row)
    async with running_worker(app, **FAST):
        results = [await app.result(i, timeout=15) for i in ids]
    assert results == [2, 2, 2]  # the crashed attempt is counted
    assert sorted(runs) == sorted(ids)  # each ran exactly once here
    for job_id in ids:
        info = await app.get_job(job_id)
        assert [e["kind"] for e in info.errors] == ["worker_lost"]
        assert "stopped heartbeating" in info.errors[0]["message"]
    if worker_row == "stale":
        assert (
            await fetchval(dsn, "SELECT state FROM pgqueue.workers WHERE hostname = 'gone-host'")
            == "lost"
        )


async def test_lost_job_out_of_attempts_is_dead_lettered(app: App, dsn: str) -> None:
    define_job(app)
    [explicit] = await orphan_jobs(dsn, 1, attempts=2, max_attempts=2)
    # NULL max_attempts: the rescuer requeues and the claiming worker resolves the default (3).
    [default] = await orphan_jobs(dsn, 1, attempts=3, max_attempts=None)
    async with running_worker(app, **FAST):
        for job_id in (explicit, default):
            with pytest.raises(JobFailedError, match="ended dead") as failure:
                await app.result(job_id, timeout=15)
            assert failure.value.state == "dead"
    explicit_info = await app.get_job(explicit)
    assert explicit_info.errors[-1]["kind"] == "worker_lost"
    # Dead-lettered by the rescue itself: never claimed (and counted) again.
    assert (explicit_info.attempts, len(explicit_info.errors)) == (2, 1)
    default_info = await app.get_job(default)
    assert default_info.attempts == 4
    assert [e["kind"] for e in default_info.errors] == ["worker_lost", "worker_lost"]
    assert "attempts used up (3/3)" in default_info.errors[-1]["message"]


async def test_a_live_workers_long_job_is_never_rescued(app: App, dsn: str) -> None:
    # Here the ttl is the point: a job running twice as long as it, next to a second worker
    # whose rescue pass runs every 0.2 s. 3 s (15 beats) is short enough to keep the test quick
    # and long enough that only a stall of the event loop for 3 s, not load, makes a beat late.
    ttl = 3.0
    live = {"heartbeat_interval": 0.2, "heartbeat_ttl": ttl}

    @app.task(name="long")
    async def long() -> str:
        # Until the database says it ran for 2 x ttl (its clock, not a sleep we hope is long).
        job_id = current_job().job_id
        await wait_for(
            lambda: fetchval(
                dsn,
                "SELECT now() - started_at > make_interval(secs => $2) FROM pgqueue.jobs "
                "WHERE id = $1",
                job_id,
                2 * ttl,
            ),
            timeout=30,
            interval=0.1,
            message="the job to run for twice the ttl",
        )
        return "done"

    async with running_worker(app, **live), running_worker(app, **live):
        job_id = await long.enqueue()
        assert await app.result(job_id, timeout=30) == "done"
        states = await fetch(dsn, "SELECT state FROM pgqueue.workers")
        assert [r["state"] for r in states] == ["running", "running"]  # nobody marked lost
    info = await app.get_job(job_id)
    assert info.attempts == 1 and info.errors == []


async def test_concurrent_rescuers_rescue_each_job_once(app: App, dsn: str) -> None:
    define_job(app)
    ids = await orphan_jobs(dsn, 40, max_attempts=5)
    async with (
        running_worker(app, **FAST),
        running_worker(app, **FAST),
        running_worker(app, **FAST),
    ):
        for job_id in ids:
            await app.result(job_id, timeout=20)
    rows = await fetch(
        dsn,
        "SELECT id, attempts, jsonb_array_length(errors) AS errors FROM pgqueue.jobs ORDER BY id",
    )
    assert [(r["attempts"], r["errors"]) for r in rows] == [(2, 1)] * 40


async def test_worker_row_lifecycle_stats_and_healthcheck(app: App, dsn: str) -> None:
    define_job(app)
    async with running_worker(app, concurrency=3, queues=("default", "other"), **FAST) as worker:
        row = (await fetch(dsn, "SELECT * FROM pgqueue.workers WHERE id = $1::uuid", worker.id))[0]
        assert (row["state"], row["queues"], row["concurrency"]) == (
            "running",
            ["default", "other"],
            3,
        )
        assert row["pid"] > 0 and row["hostname"]
        await app.result(await app.enqueue("job"), timeout=10)
        assert worker.stats().processed == 1 and worker.stats().failed == 0
        assert await worker.healthcheck() == {
            "database": True,
            "listener": True,
            "heartbeat": True,
            "sync_threads": True,
        }
        await wait_for(
            lambda: fetchval(
                dsn, "SELECT processed = 1 FROM pgqueue.workers WHERE id = $1::uuid", worker.id
            ),
            message="heartbeat carrying the counters",
        )
    assert (
        await fetchval(dsn, "SELECT state FROM pgqueue.workers WHERE id = $1::uuid", worker.id)
        == "stopped"
    )


async def test_cancel_a_queued_job(app: App, dsn: str) -> None:
    define_job(app)
    job_id = await app.enqueue("job")
    assert await app.cancel(job_id) == "cancelled"
    assert await app.cancel(job_id) == "cancelled"  # idempotent: already in its final state
    with pytest.raises(JobFailedError, match="ended cancelled"):
        await app.result(job_id, timeout=5)
    async with running_worker(app, **FAST):
        other = await app.enqueue("job")
        await app.result(other, timeout=10)
    assert (await app.get_job(job_id)).state == JobState.CANCELLED
    with pytest.raises(JobNotFoundError):
        await app.cancel(999_999)


@pytest.mark.parametrize("listen", [True, False], ids=["notify", "heartbeat-backstop"])
async def test_cancel_a_running_job(app: App, dsn: str, listen: bool) -> None:
    started = asyncio.Event()

    @app.task(name="forever")
    async def forever() -> None:
        started.set()
        await asyncio.sleep(60)

    async with running_worker(app, listen=listen, **FAST):
        job_id = await forever.enqueue()
        await asyncio.wait_for(started.wait(), 10)
        assert await app.cancel(job_id) == "cancelling"
        with pytest.raises(JobFailedError) as failure:
            await app.result(job_id, timeout=10, poll_interval=0.2)
    assert failure.value.state == "cancelled"
    info = await app.get_job(job_id)
    assert info.errors[-1]["kind"] == "cancelled" and info.result is None
    assert await count_states(dsn) == {"cancelled": 1}


async def test_cancel_racing_completion_ends_in_one_consistent_state(app: App, dsn: str) -> None:
    @app.task(name="quick")
    async def quick(n: int) -> int:
        await asyncio.sleep(0.001 * (n % 5))
        return n

    async with running_worker(app, concurrency=10, **FAST):
        ids = await app.enqueue_many([quick.job(n) for n in range(60)])
        outcomes = await asyncio.gather(*(app.cancel(i) for i in ids[::2]))
        assert set(outcomes) <= {"cancelled", "cancelling", "succeeded"}
        for job_id in ids:
            with contextlib.suppress(JobFailedError):
                await app.result(job_id, timeout=15, poll_interval=0.2)
    rows = await fetch(
        dsn,
        "SELECT state, result IS NOT NULL AS has_result, finished_at IS NOT NULL AS done FROM pgqueue.jobs",
    )
    assert all(r["done"] for r in rows)
    assert all(r["has_result"] == (r["state"] == "succeeded") for r in rows)
    states = await count_states(dsn)
    assert set(states) <= {"succeeded", "cancelled"} and sum(states.values()) == 60
    assert states.get("succeeded", 0) >= 30  # the jobs never cancelled all succeeded


async def test_cancel_from_sql(app: App, dsn: str) -> None:
    define_job(app)
    job_id = await app.enqueue("job", delay=3600)
    assert await fetchval(dsn, "SELECT pgqueue.cancel($1)", job_id) == "cancelled"
    assert await fetchval(dsn, "SELECT pgqueue.cancel(424242)") == "not_found"


async def test_cancel_before_the_job_task_first_runs_still_records_an_outcome(
    app: App, dsn: str
) -> None:
    """A cancel that lands between the claim and the job task's first step (the task never runs
    a line of its own) must still end the job, never leave it running under a live worker."""
    define_job(app)
    job_id = await app.enqueue("job")
    worker = app.worker(queues=("elsewhere",), **FAST)  # claims nothing on its own
    await worker.start()
    try:
        [job] = await app.repository.claim(["default"], 1, worker.id)
        worker._spawn(job)
        assert worker.cancel_job(job_id)  # same loop iteration: the task has not started
        with pytest.raises(JobFailedError, match="ended cancelled"):
            await app.result(job_id, timeout=10, poll_interval=0.2)
        assert worker.stats().active == 0
    finally:
        await worker.stop(timeout=5)
    assert await count_states(dsn) == {"cancelled": 1}


async def test_shutdown_drain_and_flush_loop_never_lose_outcomes(app: App, dsn: str) -> None:
    """With more outcomes buffered than one batch and a slow database, the flush loop and the
    shutdown drain must not write the same batch twice and drop another."""

    @app.task(name="slow")
    async def slow(i: int) -> None:
        await asyncio.sleep(60)

    await app.enqueue_many([slow.job(i) for i in range(100)])
    worker = app.worker(concurrency=100, completion_batch_size=10, poll_interval=0.2, **FAST)
    await worker.start()
    write = app.repository.record_outcomes

    async def with_latency(rows: Any, worker_id: str) -> int:
        await asyncio.sleep(random.random() * 0.05)  # a slow network, not a fake database
        return await write(rows, worker_id)

    app.repository.record_outcomes = with_latency  # type: ignore[method-assign]
    try:
        await wait_for(lambda: worker.stats().active == 100, message="100 running")
    finally:
        await worker.stop(timeout=0)
    assert await count_states(dsn) == {"queued": 100}
    assert await fetchval(dsn, "SELECT sum(attempts) FROM pgqueue.jobs") == 0


async def test_a_late_outcome_from_an_earlier_claim_changes_nothing(app: App, dsn: str) -> None:
    """Worker A's outcome arrives after the job was requeued and claimed again by B under the
    same attempt number: the worker guard refuses it."""
    define_job(app)
    job_id = await app.enqueue("job")
    await app.open()
    worker_a, worker_b = str(uuid.uuid4()), str(uuid.uuid4())
    [claimed] = await app.repository.claim(["default"], 1, worker_a)
    # Lost contact; the job was dead-lettered, requeued by an operator and claimed by B.
    await fetchval(
        dsn, "UPDATE pgqueue.jobs SET worker_id = $1::uuid WHERE id = $2", worker_b, job_id
    )
    stale = OutcomeRow(job_id, claimed.attempts, "succeeded", '"from A"', None, None)
    assert await app.repository.record_outcomes([stale], worker_a) == 0
    assert await fetchval(dsn, "SELECT state FROM pgqueue.jobs WHERE id = $1", job_id) == "running"
    fresh = OutcomeRow(job_id, claimed.attempts, "succeeded", '"from B"', None, None)
    assert await app.repository.record_outcomes([fresh], worker_b) == 1
    assert await app.result(job_id, timeout=5) == "from B"


async def test_a_cancelled_then_retried_job_runs(app: App, dsn: str) -> None:
    define_job(app)
    job_id = await app.enqueue("job", delay=3600)
    assert await app.cancel(job_id) == "cancelled"
    admin = Admin(app.repository)
    assert await admin.retry([job_id]) == [job_id]
    async with running_worker(app, **FAST):
        assert await app.result(job_id, timeout=10) == 1
    assert (await app.get_job(job_id)).state == JobState.SUCCEEDED


async def test_a_job_failing_after_its_cancel_was_requested_is_not_retried(
    app: App, dsn: str
) -> None:
    @app.task(name="fails_after_cancel", max_attempts=5)
    async def fails_after_cancel() -> None:
        # The cancel lands while the attempt is failing: the job must end, not go round again.
        await fetchval(dsn, "SELECT pgqueue.cancel($1)", current_job().job_id)
        raise RuntimeError("failing anyway")

    async with running_worker(app, listen=False, **FAST):
        job_id = await fails_after_cancel.enqueue()
        with pytest.raises(JobFailedError, match="ended cancelled"):
            await app.result(job_id, timeout=10, poll_interval=0.2)
    assert (await app.get_job(job_id)).attempts == 1


async def test_rescue_dead_letters_a_thousand_jobs_in_one_pass(app: App, dsn: str) -> None:
    """The rescue's completion NOTIFY is chunked: a big pass must not exceed the payload limit."""
    await fetchval(dsn, "SELECT setval(pg_get_serial_sequence('pgqueue.jobs', 'id'), 100000000)")
    ids = await orphan_jobs(dsn, 1000, attempts=1, max_attempts=1)
    await app.open()
    rescued = await app.repository.rescue_jobs(limit=1000)
    assert sorted(rescued) == sorted(ids) and set(rescued.values()) == {"dead"}
    assert await count_states(dsn) == {"dead": 1000}
