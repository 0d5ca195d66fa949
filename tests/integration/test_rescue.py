"""The rescue of jobs whose worker stopped beating, at the SQL surface (job_rescue.sql,
job_complete_many.sql run as the worker runs them) and through a live worker.

Lost workers are rows with an old heartbeat, not real processes, so no timing is involved:
the live worker in these tests has a generous heartbeat ttl and never risks looking lost itself.
"""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from pgqueue import App, JobFailedError
from pgqueue._sql import query
from tests.helpers import fetch, fetchval, running_worker

LIVE = {"heartbeat_interval": 0.2, "heartbeat_ttl": 30.0}


async def add_worker(
    conn: asyncpg.Connection, *, state: str, beat_ago: str, ttl: str, name: str
) -> str:
    worker_id = str(uuid.uuid4())
    await conn.execute(
        "INSERT INTO pgqueue.workers (id, hostname, pid, queues, concurrency, version, state, "
        "heartbeat_ttl, last_heartbeat) VALUES ($1, $2, 1, '{default}', 1, 'x', $3, "
        "$4::text::interval, now() - $5::text::interval)",
        worker_id,
        name,
        state,
        ttl,
        beat_ago,
    )
    return worker_id


async def add_running_job(
    conn: asyncpg.Connection,
    worker_id: str,
    *,
    attempts: int = 1,
    max_attempts: int | None = 5,
    cancel: bool = False,
) -> int:
    job_id: int = await conn.fetchval(
        "INSERT INTO pgqueue.jobs (task, state, attempts, max_attempts, worker_id, started_at, "
        "cancel_requested_at) VALUES ('job', 'running', $1, $2, $3::uuid, now(), "
        "CASE WHEN $4 THEN now() END) RETURNING id",
        attempts,
        max_attempts,
        worker_id,
        cancel,
    )
    return job_id


async def test_rescue_judges_each_worker_by_its_own_ttl(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        silent = await add_worker(conn, state="running", beat_ago="10 s", ttl="1 s", name="silent")
        patient = await add_worker(
            conn, state="running", beat_ago="10 s", ttl="1 hour", name="patient"
        )
        stopped = await add_worker(conn, state="stopped", beat_ago="0 s", ttl="1 hour", name="s")
        jobs = {
            "silent": await add_running_job(conn, silent),
            "patient": await add_running_job(conn, patient),
            "stopped": await add_running_job(conn, stopped),
            "no row": await add_running_job(conn, str(uuid.uuid4())),
        }
        rescued = {r["id"]: r["state"] for r in await conn.fetch(query("job_rescue"), 100)}
    finally:
        await conn.close()
    # Silent past its own 1 s ttl, stopped, or gone: rescued. Silent 10 s of a 1 hour ttl: not.
    assert rescued == {
        jobs["silent"]: "queued",
        jobs["stopped"]: "queued",
        jobs["no row"]: "queued",
    }
    states = await fetch(dsn, "SELECT id, state, worker_id FROM pgqueue.jobs ORDER BY id")
    assert [(r["id"], r["state"], r["worker_id"] is None) for r in states] == [
        (jobs["silent"], "queued", True),
        (jobs["patient"], "running", False),
        (jobs["stopped"], "queued", True),
        (jobs["no row"], "queued", True),
    ]


async def test_rescue_dead_letters_a_job_out_of_attempts(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        lost = await add_worker(conn, state="lost", beat_ago="1 hour", ttl="1 s", name="gone")
        used_up = await add_running_job(conn, lost, attempts=5, max_attempts=5)
        left = await add_running_job(conn, lost, attempts=4, max_attempts=5)
        # NULL max_attempts: the worker that claims it next resolves the task's default.
        unknown = await add_running_job(conn, lost, attempts=9, max_attempts=None)
        rescued = {r["id"]: r["state"] for r in await conn.fetch(query("job_rescue"), 100)}
    finally:
        await conn.close()
    assert rescued == {used_up: "dead", left: "queued", unknown: "queued"}
    rows = await fetch(
        dsn,
        "SELECT id, attempts, finished_at IS NOT NULL AS finished, "
        "jsonb_array_length(errors) AS errors FROM pgqueue.jobs ORDER BY id",
    )
    # The attempt that was running counts; nothing is counted twice.
    assert [(r["id"], r["attempts"], r["finished"], r["errors"]) for r in rows] == [
        (used_up, 5, True, 1),
        (left, 4, False, 1),
        (unknown, 9, False, 1),
    ]


async def test_rescue_honours_pending_cancel(app: App, dsn: str) -> None:
    ran: list[int] = []

    @app.task(name="job")
    async def job() -> None:
        ran.append(1)

    conn = await asyncpg.connect(dsn)
    try:
        lost = await add_worker(conn, state="running", beat_ago="1 hour", ttl="1 s", name="gone")
        # Its cancel was requested while it ran; then its worker died before it could act.
        job_id = await add_running_job(conn, lost, cancel=True)
        other = await add_running_job(conn, lost)
    finally:
        await conn.close()
    async with running_worker(app, **LIVE):
        with pytest.raises(JobFailedError, match="ended cancelled"):
            await app.result(job_id, timeout=15)
        assert await app.result(other, timeout=15) is None
    [row] = await fetch(
        dsn,
        "SELECT state, attempts, worker_id, finished_at IS NOT NULL AS finished, "
        "errors::text AS errors FROM pgqueue.jobs WHERE id = $1",
        job_id,
    )
    assert (row["state"], row["attempts"], row["worker_id"], row["finished"]) == (
        "cancelled",
        1,
        None,
        True,
    )
    assert [e["kind"] for e in json.loads(row["errors"])] == ["worker_lost"]
    assert ran == [1]  # only the other job ran; the cancelled one never ran again


async def test_an_outcome_of_an_earlier_attempt_changes_nothing(dsn: str) -> None:
    """A worker marked lost, whose job was rescued and claimed again by that same worker: the
    first attempt's late outcome must not finish the second attempt."""
    conn = await asyncpg.connect(dsn)
    try:
        worker = await add_worker(conn, state="running", beat_ago="0 s", ttl="1 hour", name="w")
        job_id = await add_running_job(conn, worker, attempts=2)
        complete = query("job_complete_many")
        stale = await conn.fetchrow(
            complete,
            [job_id],
            [1],
            ["succeeded"],
            ['"attempt 1"'],
            [None],
            [None],
            [False],
            [True],
            worker,
        )
        state = await conn.fetchval("SELECT state FROM pgqueue.jobs WHERE id = $1", job_id)
        assert (stale["recorded"], state) == (0, "running")
        fresh = await conn.fetchrow(
            complete,
            [job_id],
            [2],
            ["succeeded"],
            ['"attempt 2"'],
            [None],
            [None],
            [False],
            [True],
            worker,
        )
        assert fresh["recorded"] == 1
        result = await conn.fetchval("SELECT result::text FROM pgqueue.jobs WHERE id = $1", job_id)
    finally:
        await conn.close()
    assert result == '"attempt 2"'


async def test_a_rescued_job_wakes_a_listening_worker(app: App, dsn: str) -> None:
    @app.task(name="job")
    async def job() -> str:
        return "rescued and run"

    async with running_worker(app, poll_interval=60.0, **LIVE):
        # One job first: the fetch loop has claimed, found the queue empty and sleeps on its
        # 60 s poll (45..75 s jittered); only the rescue's NOTIFY can wake it within 20 s.
        assert await app.result(await app.enqueue("job"), timeout=15) == "rescued and run"
        conn = await asyncpg.connect(dsn)
        try:
            lost = await add_worker(conn, state="running", beat_ago="1 hour", ttl="1 s", name="x")
            job_id = await add_running_job(conn, lost)
        finally:
            await conn.close()
        assert await app.result(job_id, timeout=20) == "rescued and run"
    assert await fetchval(dsn, "SELECT attempts FROM pgqueue.jobs WHERE id = $1", job_id) == 2


async def test_a_rescued_dead_parent_wakes_its_waiter_and_cancels_its_child(dsn: str) -> None:
    """The rescue finishes jobs, so it hands them to pgqueue.jobs_finished() (0016_finish_hooks):
    the dead-lettered job's id goes out on pgqueue_done, and the job waiting on it is cancelled
    (and told) in the same statement; the requeued one is neither."""
    from tests.integration.test_notifications import Listener

    conn = await asyncpg.connect(dsn)
    try:
        lost = await add_worker(conn, state="lost", beat_ago="1 hour", ttl="1 s", name="gone")
        used_up = await add_running_job(conn, lost, attempts=5, max_attempts=5)
        left = await add_running_job(conn, lost, attempts=1, max_attempts=5)
        child = await conn.fetchval(
            "SELECT pgqueue.enqueue('c', depends_on => ARRAY[$1]::bigint[])", used_up
        )
        patient = await conn.fetchval(
            "SELECT pgqueue.enqueue('c', depends_on => ARRAY[$1]::bigint[])", left
        )
        async with Listener(dsn, "pgqueue_done") as done:
            rescued = {r["id"]: r["state"] for r in await conn.fetch(query("job_rescue"), 100)}
            heard = await done.drained(conn)
        states = dict(await conn.fetch("SELECT id, state FROM pgqueue.jobs"))
        errors = await conn.fetchval("SELECT errors FROM pgqueue.jobs WHERE id = $1", child)
    finally:
        await conn.close()
    assert rescued == {used_up: "dead", left: "queued"}
    assert sorted(int(i) for p in heard for i in p.split(",")) == sorted([used_up, child])
    assert states == {used_up: "dead", left: "queued", child: "cancelled", patient: "waiting"}
    assert [e["kind"] for e in json.loads(errors)] == ["dependency"]
