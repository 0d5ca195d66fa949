"""Unique jobs: at most one queued-or-running job per key, through every enqueue path, under
concurrent enqueuers and inside one batch."""

from __future__ import annotations

import asyncio
import random

import asyncpg
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from pgqueue import App, Enqueued
from tests.helpers import fetch, fetchval, running_worker, wait_for


def make_app(dsn: str) -> App:
    app = App(dsn)

    @app.task(name="sync_account")
    async def sync_account(account: int) -> int:
        return account

    return app


async def test_duplicate_returns_the_existing_id(dsn: str) -> None:
    app = make_app(dsn)
    task = app.registry.require("sync_account")
    try:
        first = await task.using(unique_key="acct:1").enqueue_unique(1)
        second = await task.using(unique_key="acct:1").enqueue_unique(2)
        other = await task.using(unique_key="acct:2").enqueue_unique(2)
        plain = await task.enqueue(3)
        again = await task.using(unique_key="acct:1").enqueue(9)  # the int-returning path
    finally:
        await app.close()
    assert first == Enqueued(first.id, duplicate=False)
    assert second == Enqueued(first.id, duplicate=True)
    assert other.duplicate is False and other.id != first.id
    assert again == first.id
    rows = await fetch(dsn, "SELECT id, unique_key, args FROM pgqueue.jobs ORDER BY id")
    assert [(r["id"], r["unique_key"], r["args"]) for r in rows] == [
        (first.id, "acct:1", "[1]"),
        (other.id, "acct:2", "[2]"),
        (plain, None, "[3]"),
    ]


async def test_enqueue_unique_needs_a_key(dsn: str) -> None:
    app = make_app(dsn)
    try:
        with pytest.raises(ValueError, match="unique_key"):
            await app.registry.require("sync_account").enqueue_unique(1)
        with pytest.raises(ValueError, match="unique_key must not be empty"):
            app.registry.require("sync_account").using(unique_key="")
    finally:
        await app.close()
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs") == 0


async def test_key_is_free_again_once_the_job_finished(dsn: str) -> None:
    app = make_app(dsn)
    task = app.registry.require("sync_account").using(unique_key="acct:7")
    try:
        first = await task.enqueue_unique(7)
        async with running_worker(app):
            await app.result(first.id, timeout=10)
        second = await task.enqueue_unique(7)
    finally:
        await app.close()
    assert second.duplicate is False and second.id != first.id
    states = await fetch(dsn, "SELECT id, state FROM pgqueue.jobs ORDER BY id")
    assert [(r["id"], r["state"]) for r in states] == [
        (first.id, "succeeded"),
        (second.id, "queued"),
    ]


async def test_duplicates_within_one_batch(dsn: str) -> None:
    app = make_app(dsn)
    task = app.registry.require("sync_account")
    try:
        existing = await task.using(unique_key="b").enqueue_unique(0)
        done = await app.enqueue_requests(
            [
                task.job(1),
                task.using(unique_key="a").job(2),
                task.using(unique_key="b").job(3),
                task.job(4),
                task.using(unique_key="a").job(5),
                task.using(unique_key="c").job(6),
                task.using(unique_key="c").job(7),
                task.job(8),
            ]
        )
    finally:
        await app.close()
    ids = [d.id for d in done]
    dup = [d.duplicate for d in done]
    assert dup == [False, False, True, False, True, False, True, False]
    assert ids[2] == existing.id
    assert ids[4] == ids[1] and ids[6] == ids[5]
    assert len(set(ids)) == 6
    rows = await fetch(dsn, "SELECT id, args::text AS args, unique_key FROM pgqueue.jobs")
    by_id = {r["id"]: (r["args"], r["unique_key"]) for r in rows}
    # Each returned id is the job holding that input's key (or the input's own job).
    assert [by_id[i] for i in ids] == [
        ("[1]", None),
        ("[2]", "a"),
        ("[0]", "b"),
        ("[4]", None),
        ("[2]", "a"),
        ("[6]", "c"),
        ("[6]", "c"),
        ("[8]", None),
    ]
    assert len(rows) == 6


async def test_eight_concurrent_enqueuers_one_key(dsn: str) -> None:
    """Eight connections enqueue the same key at once, each in its own transaction that stays
    open a moment after the insert: exactly one job, every caller gets its id."""
    conns = [await asyncpg.connect(dsn) for _ in range(8)]
    start = asyncio.Event()

    async def enqueue(conn: asyncpg.Connection, n: int) -> tuple[int, bool]:
        await start.wait()
        async with conn.transaction():
            row = await conn.fetchrow(
                "SELECT id, duplicate FROM pgqueue.enqueue_many($1::jsonb)",
                f'[{{"task": "sync_account", "args": [{n}], "unique_key": "hot"}}]',
            )
            await asyncio.sleep(0.05)  # hold the transaction open so the others must wait
        return row["id"], row["duplicate"]

    try:
        runs = [asyncio.create_task(enqueue(c, n)) for n, c in enumerate(conns)]
        start.set()
        results = await asyncio.gather(*runs)
    finally:
        for c in conns:
            await c.close()
    assert len({i for i, _ in results}) == 1
    assert sorted(d for _, d in results) == [False] + [True] * 7
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs") == 1


async def test_concurrent_batches_sharing_keys_in_any_order(dsn: str) -> None:
    """Eight enqueuers send batches of the same 20 keys in shuffled orders (a deadlock trap for
    naive inserts): one job per key, and every batch's ids agree with the table."""
    keys = [f"k{n}" for n in range(20)]
    app = make_app(dsn)
    task = app.registry.require("sync_account")
    rng = random.Random(4)

    async def batch() -> list[tuple[str, int]]:
        order = keys[:]
        rng.shuffle(order)
        done = await app.enqueue_requests([task.using(unique_key=k).job(int(k[1:])) for k in order])
        return [(k, d.id) for k, d in zip(order, done, strict=True)]

    try:
        results = await asyncio.gather(*(batch() for _ in range(8)))
    finally:
        await app.close()
    rows = await fetch(dsn, "SELECT id, unique_key FROM pgqueue.jobs")
    table = {r["unique_key"]: r["id"] for r in rows}
    assert sorted(table) == sorted(keys)
    for result in results:
        assert dict(result) == table


async def test_sql_function_and_sqlalchemy_paths(dsn: str) -> None:
    first = await fetchval(dsn, "SELECT pgqueue.enqueue('sync_account', unique_key => 'sql')")
    again = await fetchval(
        dsn, "SELECT pgqueue.enqueue('sync_account', '[5]', unique_key => 'sql')"
    )
    assert first == again
    app = make_app(dsn)
    task = app.registry.require("sync_account")
    engine = create_engine(dsn.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with Session(engine) as session, session.begin():
            dup = task.using(unique_key="sql", connection=session).enqueue_unique_sync(1)
            new = task.using(unique_key="sa", connection=session).enqueue_unique_sync(2)
    finally:
        engine.dispose()
        await app.close()
    assert dup == Enqueued(first, duplicate=True)
    assert new.duplicate is False
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs") == 2


async def test_bad_unique_key_rejects_the_batch(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        with pytest.raises(asyncpg.InvalidParameterValueError, match="job #2 has an empty"):
            await conn.fetch(
                "SELECT * FROM pgqueue.enqueue_many($1::jsonb)",
                '[{"task": "t", "unique_key": "x"}, {"task": "t", "unique_key": ""}]',
            )
        with pytest.raises(asyncpg.InvalidParameterValueError, match="non-text"):
            await conn.fetch(
                "SELECT * FROM pgqueue.enqueue_many($1::jsonb)",
                '[{"task": "t", "unique_key": 5}]',
            )
    finally:
        await conn.close()
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs") == 0


async def test_scheduled_and_retrying_jobs_hold_their_key(dsn: str) -> None:
    app = make_app(dsn)
    task = app.registry.require("sync_account")
    try:
        later = await task.using(unique_key="s", delay=3600).enqueue_unique(1)
        dup = await task.using(unique_key="s").enqueue_unique(2)
        await fetchval(dsn, "UPDATE pgqueue.jobs SET state = 'retrying' RETURNING id")
        dup2 = await task.using(unique_key="s").enqueue_unique(3)
        await fetchval(
            dsn, "UPDATE pgqueue.jobs SET state = 'dead', finished_at = now() RETURNING id"
        )
        fresh = await task.using(unique_key="s").enqueue_unique(4)
    finally:
        await app.close()
    assert dup == Enqueued(later.id, True) and dup2 == Enqueued(later.id, True)
    assert fresh.duplicate is False and fresh.id != later.id


async def test_key_released_while_a_duplicate_waits(dsn: str) -> None:
    """The holder finishes in the same transaction that held the insert up: the waiting
    enqueue finds no live holder and inserts a new job (never returns a finished job's id)."""
    holder = await asyncpg.connect(dsn)
    other = await asyncpg.connect(dsn)
    try:
        tx = holder.transaction()
        await tx.start()
        held = await holder.fetchval("SELECT pgqueue.enqueue('t', unique_key => 'w')")
        waiting = asyncio.create_task(
            other.fetchrow(
                "SELECT id, duplicate FROM pgqueue.enqueue_many($1::jsonb)",
                '[{"task": "t", "unique_key": "w"}]',
            )
        )

        async def is_waiting() -> bool:
            n = await holder.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"
            )
            return bool(n)

        await wait_for(is_waiting, message="the second enqueue to wait on the first")
        await holder.execute(
            "UPDATE pgqueue.jobs SET state = 'succeeded', finished_at = now() WHERE id = $1",
            held,
        )
        await tx.commit()
        row = await waiting
    finally:
        await holder.close()
        await other.close()
    assert row["duplicate"] is False and row["id"] != held
    states = await fetch(dsn, "SELECT id, state FROM pgqueue.jobs ORDER BY id")
    assert [(r["id"], r["state"]) for r in states] == [(held, "succeeded"), (row["id"], "queued")]
