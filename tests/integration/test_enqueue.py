"""Every enqueue path writes the same row and wakes workers the same way; a rolled-back
transaction leaves no job behind; bad input is refused before anything is written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session

from pgqueue import App, Priority, SerializationError, UnknownTaskError
from pgqueue.testing import assert_enqueued, refute_enqueued
from tests.helpers import fetch, fetchval, running_worker, wait_for


def sqlalchemy_url(dsn: str, driver: str) -> str:
    return dsn.replace("postgresql://", f"postgresql+{driver}://", 1)


def define_tasks(app: App) -> Any:
    @app.task(name="record")
    async def record(value: int, label: str = "x") -> int:
        return value

    return record


async def job_rows(dsn: str) -> list[dict[str, Any]]:
    rows = await fetch(
        dsn,
        "SELECT task, args::text, kwargs::text, queue, priority, state, max_attempts "
        "FROM pgqueue.jobs ORDER BY id",
    )
    return [dict(r) for r in rows]


EXPECTED_ROW = {
    "task": "record",
    "args": "[7]",
    "kwargs": '{"label": "a"}',
    "queue": "default",
    "priority": 0,
    "state": "queued",
    "max_attempts": None,
}


async def test_enqueue_from_pool_commits_at_once(app: App, dsn: str) -> None:
    record = define_tasks(app)
    job_id = await record.enqueue(7, label="a")
    assert isinstance(job_id, int)
    assert await job_rows(dsn) == [EXPECTED_ROW]


@pytest.mark.parametrize("commit", [True, False], ids=["commit", "rollback"])
async def test_asyncpg_transaction(app: App, dsn: str, commit: bool) -> None:
    record = define_tasks(app)
    conn = await asyncpg.connect(dsn)
    try:
        tx = conn.transaction()
        await tx.start()
        job_id = await record.using(connection=conn).enqueue(7, label="a")
        # Visible on its own connection; outside the transaction only once it commits.
        [seen] = await assert_enqueued(conn, record, args=[7], kwargs={"label": "a"}, count=1)
        assert seen.id == job_id
        await refute_enqueued(app, record)
        assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs") == 0
        await (tx.commit() if commit else tx.rollback())
    finally:
        await conn.close()
    rows = await job_rows(dsn)
    assert rows == ([EXPECTED_ROW] if commit else [])
    if commit:
        assert await fetchval(dsn, "SELECT id FROM pgqueue.jobs") == job_id


@pytest.mark.parametrize("commit", [True, False], ids=["commit", "rollback"])
async def test_sqlalchemy_sync_session(app: App, dsn: str, commit: bool) -> None:
    record = define_tasks(app)
    engine = create_engine(sqlalchemy_url(dsn, "psycopg"))
    try:
        with Session(engine) as session:
            session.execute(text("CREATE TABLE orders (id int)"))
            session.execute(text("INSERT INTO orders VALUES (1)"))
            record.using(connection=session).enqueue_sync(7, label="a")
            if commit:
                session.commit()
            else:
                session.rollback()
    finally:
        engine.dispose()
    assert await job_rows(dsn) == ([EXPECTED_ROW] if commit else [])


@pytest.mark.parametrize("commit", [True, False], ids=["commit", "rollback"])
async def test_sqlalchemy_sync_connection_batch(app: App, dsn: str, commit: bool) -> None:
    record = define_tasks(app)
    engine = create_engine(sqlalchemy_url(dsn, "psycopg"))
    try:
        with engine.connect() as conn:
            ids = app.enqueue_many_sync([record.job(7, label="a"), record.job(8)], connection=conn)
            assert ids == sorted(ids) and len(ids) == 2
            if commit:
                conn.commit()
            else:
                conn.rollback()
    finally:
        engine.dispose()
    assert len(await job_rows(dsn)) == (2 if commit else 0)


@pytest.mark.parametrize("commit", [True, False], ids=["commit", "rollback"])
@pytest.mark.parametrize("kind", ["session", "connection"])
async def test_sqlalchemy_async(app: App, dsn: str, commit: bool, kind: str) -> None:
    record = define_tasks(app)
    engine = create_async_engine(sqlalchemy_url(dsn, "asyncpg"))
    try:
        if kind == "session":
            async with AsyncSession(engine) as session:
                await record.using(connection=session).enqueue(7, label="a")
                await (session.commit() if commit else session.rollback())
        else:
            async with engine.connect() as conn:
                await record.using(connection=conn).enqueue(7, label="a")
                await (conn.commit() if commit else conn.rollback())
    finally:
        await engine.dispose()
    assert await job_rows(dsn) == ([EXPECTED_ROW] if commit else [])


@pytest.mark.parametrize("commit", [True, False], ids=["commit", "rollback"])
async def test_plain_sql_function(dsn: str, commit: bool) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        tx = conn.transaction()
        await tx.start()
        await conn.fetchval(
            "SELECT pgqueue.enqueue('record', '[7]', '{\"label\": \"a\"}', "
            "priority => 0, max_attempts => NULL)"
        )
        await (tx.commit() if commit else tx.rollback())
    finally:
        await conn.close()
    assert await job_rows(dsn) == ([EXPECTED_ROW] if commit else [])


async def test_every_path_wakes_a_listening_worker(app: App, dsn: str) -> None:
    """Each path's commit produces a NOTIFY on pgqueue_jobs with the queue name as payload."""
    record = define_tasks(app)
    listener = await asyncpg.connect(dsn)
    seen: list[str] = []
    await listener.add_listener("pgqueue_jobs", lambda *a: seen.append(a[3]))
    try:
        await record.using(queue="q1").enqueue(1)
        await fetchval(dsn, "SELECT pgqueue.enqueue('record', '[1]', queue => 'q2')")
        engine = create_engine(sqlalchemy_url(dsn, "psycopg"))
        with Session(engine) as session, session.begin():
            record.using(queue="q3", connection=session).enqueue_sync(1)
        engine.dispose()
        # Until 0015 a hand-written INSERT woke workers too (its trigger): that is asserted at
        # 0014 and after the downgrade, tests/migrations/test_enqueue_fast_migration.py.
        conn = await asyncpg.connect(dsn)
        try:
            async with conn.transaction():
                await record.using(queue="q4", connection=conn).enqueue(1)
        finally:
            await conn.close()
        # A batch of 50 jobs over two queues arrives as one notification per queue (identical
        # ones of a transaction are folded, so this cannot tell a trigger per row from one per
        # statement: test_notifications.py counts the trigger's calls for that).
        await app.enqueue_many([record.using(queue=f"b{i % 2}").job(i) for i in range(50)])
        await wait_for(lambda: len(seen) >= 6, message="six notifications")
    finally:
        await listener.close()
    assert sorted(seen) == ["b0", "b1", "q1", "q2", "q3", "q4"]


@pytest.mark.parametrize("owner", [True, False], ids=["plain INSERT", "enqueue_one"])
async def test_options_priority_delay_run_at_max_attempts(app: App, dsn: str, owner: bool) -> None:
    """Through the owner's plain INSERT and, as for a role that may not insert, enqueue_one."""
    record = define_tasks(app)
    await app.open()
    app.repository.insert_one = None if owner else False
    await record.using(priority=Priority.HIGH, queue="fast", max_attempts=7).enqueue(1)
    await record.using(delay=300).enqueue(2)
    await record.using(run_at=datetime.now(UTC) + timedelta(days=1)).enqueue(3)
    rows = await fetch(
        dsn,
        "SELECT priority, queue, max_attempts, state, "
        "round(extract(epoch FROM run_at - enqueued_at)) AS wait FROM pgqueue.jobs ORDER BY id",
    )
    assert [(r["priority"], r["queue"], r["max_attempts"], r["state"]) for r in rows] == [
        (10, "fast", 7, "queued"),
        (0, "default", None, "scheduled"),
        (0, "default", None, "scheduled"),
    ]
    assert rows[1]["wait"] == 300
    assert 86390 <= rows[2]["wait"] <= 86400


async def test_enqueue_by_name_uses_task_defaults(app: App, dsn: str) -> None:
    @app.task(name="mail.send", queue="mail", priority=5, max_attempts=9)
    def send(to: str) -> None:
        return None

    await app.enqueue("mail.send", ["a@b.c"])
    [row] = await fetch(dsn, "SELECT queue, priority, max_attempts, args::text FROM pgqueue.jobs")
    assert dict(row) == {"queue": "mail", "priority": 5, "max_attempts": 9, "args": '["a@b.c"]'}


async def test_enqueue_unknown_name_is_refused_unless_allowed(app: App, dsn: str) -> None:
    define_tasks(app)
    with pytest.raises(UnknownTaskError, match="no task named 'nope'"):
        await app.enqueue("nope", [1])
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs") == 0
    job_id = await app.enqueue("other.service.task", [1], allow_unknown=True)
    assert (
        await fetchval(dsn, "SELECT task FROM pgqueue.jobs WHERE id = $1", job_id)
        == "other.service.task"
    )


async def test_unserializable_arguments_raise_before_writing(app: App, dsn: str) -> None:
    record = define_tasks(app)
    with pytest.raises(SerializationError, match="not JSON serializable") as info:
        await record.enqueue(datetime.now(UTC))  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError)
    batch = [record.job(1), record.job(object())]  # type: ignore[arg-type]
    with pytest.raises(SerializationError, match=r"record \(job #2\)"):
        await app.enqueue_many(batch)
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs") == 0


async def test_arguments_that_do_not_fit_the_signature_raise(app: App, dsn: str) -> None:
    record = define_tasks(app)
    with pytest.raises(TypeError, match="arguments do not fit task record"):
        await record.enqueue(1, 2, 3)  # type: ignore[call-arg]
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs") == 0


async def test_batch_enqueue_is_one_transaction_in_order(app: App, dsn: str) -> None:
    record = define_tasks(app)
    ids = await app.enqueue_many([record.job(i) for i in range(1000)])
    assert len(ids) == 1000 and ids == sorted(ids)
    rows = await fetch(dsn, "SELECT id, args->>0 AS v FROM pgqueue.jobs ORDER BY id")
    assert [int(r["v"]) for r in rows] == list(range(1000))
    assert [r["id"] for r in rows] == ids
    # One bad job rejects the whole batch: nothing is written.
    with pytest.raises(asyncpg.PostgresError, match="job #2 has an empty or non-text"):
        await fetchval(
            dsn,
            "SELECT count(*) FROM pgqueue.enqueue_many("
            '\'[{"task": "record"}, {"task": "record", "queue": ""}]\')',
        )
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs") == 1000


async def test_sql_function_rejects_bad_shapes(dsn: str) -> None:
    for call, message in [
        ("pgqueue.enqueue('t', '{\"a\": 1}')", '"args" that is not a JSON array'),
        ("pgqueue.enqueue('t', '[]', '[1]')", '"kwargs" that is not a JSON object'),
        ("pgqueue.enqueue('')", 'non-empty "task"'),
        ("pgqueue.enqueue('t', max_attempts => 0)", "max_attempts"),
        # Refused by the function's own check, naming the job, not by the table's CHECK.
        ("pgqueue.enqueue('t', max_attempts => 0)", 'job #1 has "max_attempts" below 1'),
    ]:
        with pytest.raises(asyncpg.PostgresError, match=message):
            await fetchval(dsn, f"SELECT {call}")
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs") == 0


async def test_sql_enqueued_job_runs_on_worker(app: App, dsn: str) -> None:
    @app.task(name="double")
    async def double(x: int) -> int:
        return 2 * x

    async with running_worker(app):
        job_id = await fetchval(dsn, "SELECT pgqueue.enqueue('double', '[21]')")
        assert await app.result(job_id, timeout=10) == 42
