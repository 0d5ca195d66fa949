"""Issue 8, item 2: names are bounded on every path, so no NOTIFY payload can fail on data and no
row can stop promotion. Task and queue names at most 200 bytes, unique keys at most 1,000, no
control characters: in Python (tests/unit/test_names.py), in pgqueue.enqueue_many and
pgqueue.enqueue, and for a raw INSERT (CHECK constraints of 0004_hardening)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from pgqueue import App, JobState
from tests.helpers import count_states, fetch, fetchval, running_worker, wait_for

SCHEDULED_DUE = (
    "INSERT INTO pgqueue.jobs (task, queue, state, run_at) "
    "VALUES ('t', $1, 'scheduled', now() - make_interval(secs => $2)) RETURNING id"
)


async def test_a_scheduled_job_with_an_oversized_queue_cannot_stop_promotion(
    app: App, dsn: str
) -> None:
    """The reproduction: a due scheduled job with an 8,001-byte queue name at the head of the
    due index made job_promote_due's NOTIFY fail ("payload string too long") every pass, so no
    scheduled job or retry in any queue was queued again. Now that row cannot exist."""
    conn = await asyncpg.connect(dsn)
    try:
        with pytest.raises(asyncpg.CheckViolationError, match="jobs_queue_name_check"):
            await conn.fetchval(SCHEDULED_DUE, "q" * 8001, 3600.0)
        good = [await conn.fetchval(SCHEDULED_DUE, queue, 60.0) for queue in ("a", "b", "a")]
    finally:
        await conn.close()
    await app.open()
    assert await app.repository.promote_due() == {"a": 2, "b": 1}
    rows = await fetch(dsn, "SELECT id, state FROM pgqueue.jobs ORDER BY id")
    assert [(r["id"], r["state"]) for r in rows] == [(i, "queued") for i in good]


async def test_promotion_goes_past_a_row_someone_holds(app: App, dsn: str) -> None:
    """The other way one row could block a batch: a lock on the oldest due row (an operator's
    open transaction). SKIP LOCKED promotes the rest; the held row follows once released."""
    conn = await asyncpg.connect(dsn)
    try:
        held = await conn.fetchval(SCHEDULED_DUE, "a", 3600.0)
        others = [await conn.fetchval(SCHEDULED_DUE, "a", 60.0) for _ in range(3)]
        locker = await asyncpg.connect(dsn)
        try:
            async with locker.transaction():
                await locker.execute("SELECT 1 FROM pgqueue.jobs WHERE id = $1 FOR UPDATE", held)
                await app.open()
                assert await app.repository.promote_due() == {"a": 3}
            assert await app.repository.promote_due() == {"a": 1}
        finally:
            await locker.close()
    finally:
        await conn.close()
    assert await count_states(dsn) == {"queued": 4}
    assert len(others) == 3


@pytest.mark.parametrize(
    ("insert", "constraint"),
    [
        ("INSERT INTO pgqueue.jobs (task) VALUES (repeat('t', 201))", "jobs_task_name_check"),
        ("INSERT INTO pgqueue.jobs (task) VALUES (repeat('é', 101))", "jobs_task_name_check"),
        ("INSERT INTO pgqueue.jobs (task) VALUES ('')", "jobs_task_name_check"),
        ("INSERT INTO pgqueue.jobs (task) VALUES (E'a\\nb')", "jobs_task_name_check"),
        (
            "INSERT INTO pgqueue.jobs (task, queue) VALUES ('t', E'q\\u0085')",
            "jobs_queue_name_check",
        ),
        ("INSERT INTO pgqueue.jobs (task, queue) VALUES ('t', '')", "jobs_queue_name_check"),
        (
            "INSERT INTO pgqueue.jobs (task, unique_key) VALUES ('t', repeat('k', 1001))",
            "jobs_unique_key_check",
        ),
        (
            "INSERT INTO pgqueue.jobs (task, unique_key) VALUES ('t', E'\\t')",
            "jobs_unique_key_check",
        ),
        ("UPDATE pgqueue.jobs SET queue = repeat('q', 8001)", "jobs_queue_name_check"),
    ],
)
async def test_a_raw_insert_or_update_cannot_store_a_bad_name(
    dsn: str, insert: str, constraint: str
) -> None:
    await fetchval(dsn, "INSERT INTO pgqueue.jobs (task, queue) VALUES ('ok', 'ok')")
    with pytest.raises(asyncpg.CheckViolationError, match=constraint):
        await fetchval(dsn, insert)
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs") == 1
    assert await fetchval(dsn, "SELECT queue FROM pgqueue.jobs") == "ok"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            "pgqueue.enqueue('t', queue => repeat('q', 8001))",
            r'job #1 has a "queue" name of 8001 bytes: the limit is 200 bytes \(UTF-8\)$',
        ),
        (
            "pgqueue.enqueue(repeat('t', 201))",
            r'job #1 has a "task" name of 201 bytes: the limit is 200 bytes',
        ),
        (
            "pgqueue.enqueue('t', unique_key => repeat('é', 501))",
            r'job #1 has a "unique_key" of 1002 bytes: the limit is 1000 bytes',
        ),
        ("pgqueue.enqueue(E'a\\x01')", r'job #1 has a control character in its "task" name'),
        (
            "pgqueue.enqueue('t', queue => E'a\\x1b[31m')",
            r'job #1 has a control character in its "queue" name',
        ),
        (
            """pgqueue.enqueue_many('[{"task": "t"}, {"task": "t", "unique_key": "k\\u009f"}]')""",
            r'job #2 has a control character in its "unique_key"',
        ),
    ],
)
async def test_the_sql_functions_refuse_bad_names_naming_job_field_and_limit(
    dsn: str, call: str, message: str
) -> None:
    with pytest.raises(asyncpg.InvalidParameterValueError, match=message):
        await fetchval(dsn, f"SELECT {call}")
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs") == 0


async def test_names_at_the_limits_travel_every_path_and_run(app: App, dsn: str) -> None:
    """200-byte names (multi-byte too) are stored, notified and claimed like any other."""
    queue = "é" * 100  # 100 characters, 200 bytes
    name = "t" * 200
    ran = asyncio.Event()

    @app.task(name=name, queue=queue)
    async def long_named() -> str:
        ran.set()
        return "ok"

    job_id = await long_named.using(unique_key="k" * 1000).enqueue()
    sql_id = await fetchval(dsn, "SELECT pgqueue.enqueue($1, queue => $2)", name, queue)
    async with running_worker(app, queues=(queue,), poll_interval=30):
        await wait_for(ran.is_set, message="the job ran")
        assert await app.result(job_id, timeout=20) == "ok"
        assert await app.result(sql_id, timeout=20) == "ok"
    info = await app.get_job(job_id)
    assert (info.state, info.queue, info.task) == (JobState.SUCCEEDED, queue, name)
