"""Never two attempts of one job in one worker (issue 8, item 7).

A worker declared lost (its heartbeats stopped reaching the database for a ttl) may still be
running its jobs while the rescue puts them back in the queue. It must not claim them again
while it is marked lost; it learns it was lost from its next heartbeat, which registers it again;
and if it ever is handed a job it is still running (a rescue racing that heartbeat), the stale
attempt is given up so the worker holds one attempt per job, and cancel(), stop() and
stats().active stay true.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid

import pytest

from pgqueue import App, JobFailedError, current_job
from pgqueue._repository import WorkerRow
from tests.helpers import count_states, fetch, fetchval, running_worker, wait_for


def worker_row(worker_id: str) -> WorkerRow:
    return WorkerRow(
        id=worker_id,
        hostname=socket.gethostname(),
        pid=os.getpid(),
        queues=("default",),
        concurrency=1,
        version="test",
        heartbeat_ttl=30.0,
        processed=0,
        failed=0,
        active=0,
    )


async def mark_lost(dsn: str, worker_id: str) -> None:
    await fetchval(
        dsn,
        "UPDATE pgqueue.workers SET state = 'lost', stopped_at = now(), "
        "last_heartbeat = now() - interval '1 hour' WHERE id = $1::uuid",
        worker_id,
    )


async def test_the_heartbeat_of_a_lost_worker_says_so_and_registers_it_again(
    app: App, dsn: str
) -> None:
    await app.open()
    worker_id = str(uuid.uuid4())
    assert await app.repository.heartbeat(worker_row(worker_id)) == "new"
    assert await app.repository.heartbeat(worker_row(worker_id)) == "running"
    await mark_lost(dsn, worker_id)
    assert await app.repository.heartbeat(worker_row(worker_id)) == "lost"
    assert (
        await fetchval(dsn, "SELECT state FROM pgqueue.workers WHERE id = $1::uuid", worker_id)
        == "running"
    )


async def test_a_worker_marked_lost_claims_nothing_until_it_registers_again(
    app: App, dsn: str
) -> None:
    @app.task(name="job")
    async def job() -> None:
        return None

    await app.open()
    worker_id = str(uuid.uuid4())
    await app.repository.heartbeat(worker_row(worker_id))
    await app.enqueue_many([job.job() for _ in range(3)])
    await mark_lost(dsn, worker_id)
    assert await app.repository.claim(["default"], 3, worker_id) == []
    assert await count_states(dsn) == {"queued": 3}
    await app.repository.heartbeat(worker_row(worker_id))  # registered again
    assert len(await app.repository.claim(["default"], 3, worker_id)) == 3


@pytest.mark.parametrize("end", ["cancel", "stop"])
async def test_a_job_rescued_from_a_live_worker_runs_there_once_at_a_time(
    app: App, dsn: str, end: str
) -> None:
    """The worker's first attempt still runs when the rescue requeues its job and the worker
    claims it again: the first attempt is given up, and cancel/stop/active act on the second."""
    attempts_started: list[int] = []
    attempts_ended: list[int] = []

    @app.task(name="long")
    async def long() -> None:
        attempts_started.append(current_job().attempt)
        try:
            await asyncio.sleep(60)
        finally:
            attempts_ended.append(current_job().attempt)

    # Long heartbeats: the test decides when the worker hears it was lost.
    async with running_worker(app, heartbeat_interval=30, heartbeat_ttl=60) as worker:
        job_id = await long.enqueue()
        await wait_for(lambda: attempts_started == [1], message="the first attempt running")
        # The worker was declared lost meanwhile and its job rescued (a rescue racing its
        # heartbeat: the row is already registered again when the job is claimed).
        await mark_lost(dsn, worker.id)
        assert await app.repository.rescue_jobs() == {job_id: "queued"}
        await app.repository.heartbeat(worker._worker_row())
        await wait_for(lambda: attempts_started == [1, 2], message="the second attempt running")
        await wait_for(lambda: attempts_ended == [1], message="the first attempt given up")
        assert worker.stats().active == 1
        assert await fetchval(dsn, "SELECT attempts FROM pgqueue.jobs WHERE id = $1", job_id) == 2
        if end == "cancel":
            assert await app.cancel(job_id) == "cancelling"
            with pytest.raises(JobFailedError, match="ended cancelled"):
                await app.result(job_id, timeout=10, poll_interval=0.2)
            await wait_for(lambda: worker.stats().active == 0, message="no attempt running")
        else:
            await asyncio.wait_for(worker.stop(timeout=0), 15)
        assert attempts_ended == [1, 2]
        assert worker.stats().active == 0
    [row] = await fetch(dsn, "SELECT state, attempts FROM pgqueue.jobs")
    # A stop gives the interrupted attempt back; the rescue counted the lost one.
    expected = ("cancelled", 2) if end == "cancel" else ("queued", 1)
    assert (row["state"], row["attempts"]) == expected
    assert (
        await fetchval(dsn, "SELECT state FROM pgqueue.workers WHERE id = $1::uuid", worker.id)
        == "stopped"
    )


async def test_one_rescue_pass_marks_lost_the_worker_of_every_job_it_rescues(
    app: App, dsn: str
) -> None:
    """Repository.rescue_pass reaps and rescues in one transaction, so one now(): the job of a
    worker silent past its ttl goes back to the queue in the same pass that marks the worker
    lost, and a live worker's job and row are left alone."""
    await app.open()
    silent, live = str(uuid.uuid4()), str(uuid.uuid4())
    for worker_id in (silent, live):
        assert await app.repository.heartbeat(worker_row(worker_id)) == "new"
    jobs = {}
    for worker_id in (silent, live):
        jobs[worker_id] = await app.enqueue("elsewhere", allow_unknown=True)
        await fetchval(
            dsn,
            "UPDATE pgqueue.jobs SET state = 'running', worker_id = $2::uuid, attempts = 1, "
            "started_at = now() WHERE id = $1 RETURNING 1",
            jobs[worker_id],
            worker_id,
        )
    await fetchval(
        dsn,
        "UPDATE pgqueue.workers SET last_heartbeat = now() - interval '1 hour' "
        "WHERE id = $1::uuid RETURNING 1",
        silent,
    )
    assert await app.repository.rescue_pass(86400.0) == (1, {jobs[silent]: "queued"})
    rows = await fetch(dsn, "SELECT id::text AS id, state FROM pgqueue.workers ORDER BY id")
    assert {r["id"]: r["state"] for r in rows} == {silent: "lost", live: "running"}
    states = await fetch(dsn, "SELECT id, state FROM pgqueue.jobs")
    assert {r["id"]: r["state"] for r in states} == {
        jobs[silent]: "queued",
        jobs[live]: "running",
    }
    assert await app.repository.rescue_pass(86400.0) == (0, {})
    assert await app.repository.heartbeat(worker_row(silent)) == "lost"
