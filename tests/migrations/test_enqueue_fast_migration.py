"""Revision 0015_enqueue_fast up and down: the INSERT trigger dropped (and its wake-ups, then
sent by the enqueue functions), pgqueue.enqueue_one granted to whoever could enqueue before,
and back to 0014's objects exactly, the trigger waking workers on a plain INSERT again."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import psycopg

from pgqueue import App, JobRequest, migrate
from tests.integration.test_notifications import (
    Listener,
    check_insert_trigger_notifies_once_per_queue_per_statement,
)
from tests.migrations.test_sql_files import objects, rows

REVISION = "0015_enqueue_fast"
PREVIOUS = "0014_workflows"
# Roles belong to the whole server: a name of this run's own, so suites run at once never share one.
RUN = uuid.uuid4().hex[:8]
ROLE = f"pgqueue_enqueue_fast_producer_{RUN}"
TRIGGER = "SELECT count(*) FROM pg_trigger WHERE tgname = 'jobs_notify_inserted'"


async def plain_insert_wakes(dsn: str) -> list[str]:
    """What a LISTENing worker hears for a hand-written INSERT (0007's promise until 0015)."""
    conn = await asyncpg.connect(dsn)
    try:
        async with Listener(dsn, "pgqueue_jobs") as listener:
            await conn.execute("INSERT INTO pgqueue.jobs (task, queue) VALUES ('record', 'q4')")
            return await listener.drained(conn)
    finally:
        await conn.close()


def test_upgrade_and_downgrade_of_0015(empty_db: str) -> None:
    migrate.upgrade(empty_db, PREVIOUS)
    asyncio.run(check_insert_trigger_notifies_once_per_queue_per_statement(empty_db))
    assert asyncio.run(plain_insert_wakes(empty_db)) == ["q4"]
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {ROLE}")  # type: ignore[arg-type]
        conn.execute(f"CREATE ROLE {ROLE}")  # type: ignore[arg-type]
    try:
        rows(empty_db, "SELECT pgqueue.grant_producer(%s)", ROLE)  # granted at 0014
        before = objects(empty_db)

        migrate.upgrade(empty_db, REVISION)
        assert rows(empty_db, TRIGGER) == [(0,)]
        assert asyncio.run(plain_insert_wakes(empty_db)) == []
        with psycopg.connect(empty_db, autocommit=True) as conn:
            conn.execute(f"SET ROLE {ROLE}")  # type: ignore[arg-type]
            one = conn.execute("SELECT id, duplicate FROM pgqueue.enqueue_one('a')").fetchone()
            many = conn.execute(
                'SELECT id FROM pgqueue.enqueue_many(\'[{"task": "b"}]\')'
            ).fetchone()
            assert one is not None and one[1] is False and many is not None
            conn.execute("RESET ROLE")
        assert rows(
            empty_db,
            "SELECT has_function_privilege('public', p.oid, 'EXECUTE') FROM pg_proc AS p "
            "WHERE p.proname = 'enqueue_one'",
        ) == [(False,)]
        after = objects(empty_db)

        migrate.downgrade(empty_db, PREVIOUS)
        assert objects(empty_db) == before
        assert rows(empty_db, TRIGGER) == [(1,)]
        asyncio.run(check_insert_trigger_notifies_once_per_queue_per_statement(empty_db))
        assert asyncio.run(plain_insert_wakes(empty_db)) == ["q4"]
        migrate.upgrade(empty_db, REVISION)
        assert objects(empty_db) == after
    finally:
        with psycopg.connect(empty_db, autocommit=True) as conn:
            conn.execute("SELECT pgqueue.revoke_access(%s)", (ROLE,))
            conn.execute(f"DROP ROLE {ROLE}")  # type: ignore[arg-type]


async def test_an_app_on_a_schema_before_0015_enqueues_through_enqueue_many(empty_db: str) -> None:
    """The asyncpg path tries pgqueue.enqueue_one once (autocommit, so a missing function changes
    nothing) and, on a 0014 schema, sends every job to enqueue_many from then on."""
    await migrate.upgrade_async(empty_db, PREVIOUS)
    app = App(empty_db)
    try:
        first = await app.enqueue("t", [1], allow_unknown=True)
        second = await app.enqueue("t", [2], allow_unknown=True, unique_key="k")
        again = await app.enqueue_requests([JobRequest("t", [3], {}, unique_key="k")])
        repository = await app._repo()
        assert repository.enqueue_one is False
    finally:
        await app.close()
    assert again[0].id == second and again[0].duplicate
    assert rows(empty_db, "SELECT id, args::text, state FROM pgqueue.jobs ORDER BY id") == [
        (first, "[1]", "queued"),
        (second, "[2]", "queued"),
    ]
    await migrate.upgrade_async(empty_db, REVISION)
    app = App(empty_db)
    try:
        # Keyed, so it goes to enqueue_one (a keyless one is the owner's plain INSERT).
        await app.enqueue("t", [4], allow_unknown=True, unique_key="k4")
        assert (await app._repo()).enqueue_one is True
    finally:
        await app.close()
