"""Who is woken, on which channel, and how often: the insert trigger, completion notices for
result waiters, and the wake-ups of workers when a job comes (back) into the queue.

A worker polls only every `poll_interval` (60 s here, jittered to 45..75 s), so a job it starts
within 20 s was started by a notification: the bound is a third of the earliest poll, which
leaves a loaded machine plenty of room and still cannot be met by polling.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import asyncpg
import pytest

from pgqueue import App, JobFailedError, constant, current_job
from tests.helpers import fetchval, running_worker, wait_for

NO_POLL = {"poll_interval": 60.0}
WOKEN_WITHIN = 20.0  # seconds; well under the earliest poll (45 s)


class Listener:
    """A connection of its own LISTENing on `channel`, keeping every payload in order."""

    def __init__(self, dsn: str, channel: str) -> None:
        self.dsn, self.channel = dsn, channel
        self.payloads: list[str] = []

    async def __aenter__(self) -> Listener:
        self.conn = await asyncpg.connect(self.dsn)
        await self.conn.add_listener(self.channel, lambda *a: self.payloads.append(a[3]))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.conn.close()

    def ids(self) -> set[int]:
        return {int(part) for p in self.payloads for part in p.split(",") if part.isdigit()}

    async def drained(self, sender: asyncpg.Connection) -> list[str]:
        """Every payload committed before now: notifications arrive in commit order, so once a
        sentinel sent last has arrived, all earlier ones have."""
        await sender.execute(f"SELECT pg_notify('{self.channel}', 'sentinel')")
        await wait_for(lambda: "sentinel" in self.payloads, message="the sentinel")
        return self.payloads[: self.payloads.index("sentinel")]


async def trigger_calls(conn: asyncpg.Connection, function: str = "notify_jobs") -> int:
    calls = await conn.fetchval(
        "SELECT calls FROM pg_stat_xact_user_functions "
        "WHERE schemaname = 'pgqueue' AND funcname = $1",
        function,
    )
    return int(calls or 0)


INSERT = """
INSERT INTO pgqueue.jobs (task, queue, state, run_at)
SELECT 't', 'q' || (n % 2), 'queued', now() FROM generate_series(1, $1) AS n
UNION ALL
SELECT 't', 'later', 'scheduled', now() + interval '1 hour'
"""


async def check_insert_trigger_notifies_once_per_queue_per_statement(dsn: str) -> None:
    """Revisions 0007 to 0014 (0015_enqueue_fast drops the trigger: the enqueue functions send
    the wake-up; tests/migrations/test_enqueue_fast_migration.py runs this at 0014 and after the
    downgrade). PostgreSQL folds identical notifications of one transaction, so a listener alone
    cannot tell one NOTIFY per statement from one per row. Two views together can:
    the trigger's own call count (track_functions) inside one transaction, one per statement
    however many rows; and a listener over separate transactions, one per queue each."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL track_functions = 'pl'")
            await conn.execute(INSERT, 50)
            assert await trigger_calls(conn) == 1
            await conn.fetch(
                "SELECT * FROM pgqueue.enqueue_many("
                "(SELECT jsonb_agg(jsonb_build_object('task', 't', 'queue', 'q' || n)) "
                "FROM generate_series(1, 30) AS n))"
            )
            assert await trigger_calls(conn) == 2

        async with Listener(dsn, "pgqueue_jobs") as listener:
            for _ in range(5):
                await conn.execute(INSERT, 20)  # one transaction each
            seen = await listener.drained(conn)
    finally:
        await conn.close()
    # One per queue per transaction; the scheduled row in "later" wakes nobody.
    assert Counter(seen) == {"q0": 5, "q1": 5}


async def test_the_finish_hook_tells_each_finished_job_once_per_statement(dsn: str) -> None:
    """pgqueue.jobs_finished() (0016_finish_hooks; the UPDATE trigger of 0007_notify_triggers
    before it): the ids a statement finished, 300 to a payload and each once, one call per
    statement however many rows, and no statement trigger left on the UPDATE; an UPDATE that
    finishes nothing (one of finished jobs included) tells nobody; one wake-up per queue with
    queued rows."""
    conn = await asyncpg.connect(dsn)
    try:
        big = [
            r["id"]
            for r in await conn.fetch(
                "INSERT INTO pgqueue.jobs (task, queue) "
                "SELECT 't', 'big' FROM generate_series(1, 700) RETURNING id"
            )
        ]
        await conn.execute("INSERT INTO pgqueue.jobs (task, queue) VALUES ('t', 'other')")
        async with Listener(dsn, "pgqueue_done") as done, Listener(dsn, "pgqueue_jobs") as jobs:
            async with conn.transaction():
                await conn.execute("SET LOCAL track_functions = 'pl'")
                await conn.execute(
                    "WITH f AS (UPDATE pgqueue.jobs SET state = 'succeeded', finished_at = now() "
                    "WHERE queue = 'big' RETURNING id) "
                    "SELECT pgqueue.jobs_finished(ARRAY(SELECT f.id FROM f))"
                )
                assert await trigger_calls(conn, "jobs_finished") == 1
                assert await trigger_calls(conn) == 0
            await conn.execute("UPDATE pgqueue.jobs SET priority = 1 WHERE queue = 'big'")
            await conn.execute("UPDATE pgqueue.jobs SET finished_at = now() WHERE queue = 'big'")
            await conn.execute("UPDATE pgqueue.jobs SET priority = 1 WHERE queue = 'other'")
            finished = await done.drained(conn)
            woken = await jobs.drained(conn)
    finally:
        await conn.close()
    assert sorted(len(p.split(",")) for p in finished) == [101, 299, 300]
    assert sorted(int(i) for p in finished for i in p.split(",")) == sorted(big)
    assert woken == ["other"]


async def test_completion_notice_reaches_pgqueue_done_listeners(app: App, dsn: str) -> None:
    @app.task(name="ok")
    async def ok() -> str:
        return "fine"

    @app.task(name="bad", max_attempts=1)
    async def bad() -> None:
        raise RuntimeError("no")

    async with Listener(dsn, "pgqueue_done") as listener:
        cancelled = await ok.using(delay=3600).enqueue()
        assert await app.cancel(cancelled) == "cancelled"
        await wait_for(lambda: cancelled in listener.ids(), message="the cancelled job's id")
        async with running_worker(app):
            succeeded, dead = await ok.enqueue(), await bad.enqueue()
            await wait_for(
                lambda: {succeeded, dead} <= listener.ids(), message="the finished jobs' ids"
            )
    assert listener.ids() == {cancelled, succeeded, dead}


async def test_a_retry_sends_no_completion_notice(dsn: str) -> None:
    """A completion batch hands pgqueue.jobs_finished() the jobs it finished and only those: a
    job that goes round again (a retry, a shutdown's requeue) tells no result waiter."""
    from pgqueue._sql import query

    conn = await asyncpg.connect(dsn)
    try:
        worker = "00000000-0000-0000-0000-00000000000a"
        ids = [
            r["id"]
            for r in await conn.fetch(
                "INSERT INTO pgqueue.jobs (task, state, attempts, worker_id, started_at) "
                "SELECT 't', 'running', 1, $1::uuid, now() FROM generate_series(1, 3) "
                "RETURNING id",
                worker,
            )
        ]
        async with Listener(dsn, "pgqueue_done") as done:
            recorded = await conn.fetchval(
                query("job_complete_many"),
                ids,
                [1, 1, 1],
                ["succeeded", "retrying", "queued"],
                ["1", None, None],
                [None, '{"kind": "retry"}', '{"kind": "retry"}'],
                [None, 60.0, 0.0],
                [False, False, False],
                [True, False, False],
                worker,
            )
            heard = await done.drained(conn)
    finally:
        await conn.close()
    assert recorded == 3
    assert heard == [str(ids[0])]


async def settled(app: App) -> None:
    """Run one job to its end first: the worker's fetch loop has then claimed, found the queue
    empty and gone to sleep on its (long) poll, so what follows can only wake it by NOTIFY."""

    @app.task(name="marker")
    async def marker() -> None:
        return None

    assert await app.result(await marker.enqueue(), timeout=15) is None


async def test_a_promoted_job_wakes_a_listening_worker(app: App, dsn: str) -> None:
    @app.task(name="later")
    async def later() -> str:
        return "ran"

    async with running_worker(app, **NO_POLL):
        await settled(app)
        # A scheduled insert wakes nobody; its promotion (schedule_interval 0.1 s) must.
        job_id = await later.using(delay=0.2).enqueue()
        assert await app.result(job_id, timeout=WOKEN_WITHIN) == "ran"


async def test_a_retry_due_now_wakes_a_listening_worker(app: App, dsn: str) -> None:
    @app.task(name="twice", max_attempts=2, retry=constant(0))
    async def twice() -> int:
        if current_job().attempt == 1:
            raise RuntimeError("first attempt fails")
        return current_job().attempt

    async with running_worker(app, **NO_POLL):
        job_id = await twice.enqueue()
        assert await app.result(job_id, timeout=WOKEN_WITHIN) == 2


async def test_a_running_job_is_cancelled_by_notification_before_the_heartbeat(
    app: App, dsn: str
) -> None:
    started = asyncio.Event()

    @app.task(name="forever")
    async def forever() -> None:
        started.set()
        await asyncio.sleep(120)

    # The heartbeat (the backstop that finds cancel requests in the table) comes every 30 s:
    # a cancel within 10 s came from the notification.
    async with running_worker(app, heartbeat_interval=30.0, heartbeat_ttl=90.0):
        job_id = await forever.enqueue()
        await asyncio.wait_for(started.wait(), 15)
        assert await app.cancel(job_id) == "cancelling"
        with pytest.raises(JobFailedError, match="ended cancelled"):
            await app.result(job_id, timeout=10, poll_interval=0.2)
    assert await fetchval(dsn, "SELECT state FROM pgqueue.jobs WHERE id = $1", job_id) == (
        "cancelled"
    )


async def test_one_listener_serves_the_worker_result_waiters_and_watchers(
    app: App, dsn: str
) -> None:
    """One LISTEN connection per App: the worker's wake-ups and cancels, result() and watch()
    all arrive through it; it stays while any of them subscribes and closes with the App."""

    @app.task(name="ok")
    async def ok() -> str:
        return "fine"

    async with running_worker(app, **NO_POLL):
        await settled(app)
        job_id = await ok.enqueue()
        assert await app.result(job_id, timeout=WOKEN_WITHIN) == "fine"
        events = [event async for event in app.watch(await ok.enqueue())]
        assert [type(event).__name__ for event in events] == ["FinishedEvent"]
        listener = app.listener
        heard = {c for s in listener._subscriptions for c in s.channels}
        assert heard == {"pgqueue_jobs", "pgqueue_cancel", "pgqueue_done", "pgqueue_progress"}
        assert listener._conn is not None
        pid = listener._conn.get_server_pid()
        listening = await fetchval(
            dsn,
            "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND datname = current_database()",
            pid,
        )
        assert listening == 1
    # The worker left; result waiters and watchers of the App still hold the connection.
    assert listener is app.listener
    assert listener.is_connected and len(listener._subscriptions) == 2
    await app.close()
    assert listener._conn is None and not listener.is_connected
    await wait_for(
        lambda: fetchval(dsn, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $1", pid),
        message="the listener's backend to end",
    )
