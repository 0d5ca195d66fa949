"""Retention and operator actions: batched pruning, the elected maintenance worker, dead-letter
requeue/purge, cancel and retry."""

from __future__ import annotations

import asyncpg
import pytest

from pgqueue import App, Worker
from pgqueue._admin import Admin, DeadLetterFilter
from pgqueue._retention import RetentionPolicy, count_prunable, prune, prune_expired
from tests.helpers import count_states, fetch, fetchval, wait_for


async def add_finished(dsn: str, state: str, age: str, n: int, **extra: str) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """
            INSERT INTO pgqueue.jobs (task, queue, state, attempts, finished_at, unique_key, errors)
            SELECT $1, $2, $3, 1, now() - $4::text::interval, $6,
                   CASE WHEN $3 = 'dead' THEN '[{"type": "ValueError", "message": "x"}]'::jsonb
                        ELSE '[]' END
            FROM generate_series(1, $5)
            RETURNING id
            """,
            extra.get("task", "t"),
            extra.get("queue", "default"),
            state,
            age,
            n,
            extra.get("unique_key"),
        )
    finally:
        await conn.close()
    return [r["id"] for r in rows]


async def test_prune_in_batches(dsn: str, app: App) -> None:
    await add_finished(dsn, "succeeded", "2 days", 7)
    await add_finished(dsn, "succeeded", "1 hour", 2)
    await add_finished(dsn, "cancelled", "8 days", 3)
    await add_finished(dsn, "dead", "30 days", 4)
    await app.open()
    assert await count_prunable(app.repository, "succeeded", 86400) == 7
    assert await prune(app.repository, "succeeded", 86400, batch_size=3) == 7
    assert await prune(app.repository, "succeeded", 86400, batch_size=3) == 0
    deleted = await prune_expired(app.repository, RetentionPolicy(), batch_size=2)
    assert deleted == {"cancelled": 3}
    assert await count_states(dsn) == {"succeeded": 2, "dead": 4}
    assert await prune_expired(app.repository, RetentionPolicy(dead=86400.0)) == {"dead": 4}
    with pytest.raises(ValueError, match="finished"):
        await prune(app.repository, "queued", 1)


async def test_prune_stops_when_leadership_is_lost(dsn: str, app: App) -> None:
    await add_finished(dsn, "succeeded", "2 days", 10)
    await app.open()
    calls = iter([True, True, False])
    n = await prune(app.repository, "succeeded", 3600, batch_size=3, keep_going=lambda: next(calls))
    assert n == 6
    assert await count_states(dsn) == {"succeeded": 4}


async def start(app: App, **settings: object) -> Worker:
    worker = app.worker(
        poll_interval=0.2,
        schedule_interval=0.05,
        # The leader renews every ttl/3 (2 s) and loses the lease only after a 4 s stall,
        # which a loaded machine does not reach; a leader that stops releases it at once.
        maintenance_lease_ttl=6.0,
        prune_interval=0.1,
        prune_batch_size=5,
        **settings,
    )
    await worker.start()
    return worker


def leader_ids(workers: list[Worker]) -> list[str]:
    return [w.id for w in workers if w.ops.maintenance and w.ops.maintenance.is_leader]


async def test_one_elected_worker_prunes(dsn: str) -> None:
    apps = [App(dsn) for _ in range(4)]
    workers = [await start(a, retention_succeeded=3600.0) for a in apps[:3]]
    workers.append(await start(apps[3], maintenance=False))
    try:
        await wait_for(lambda: len(leader_ids(workers)) == 1, message="a leader")
        [leader] = leader_ids(workers)
        assert await fetchval(dsn, "SELECT holder FROM pgqueue.leases") == leader
        assert workers[3].ops.maintenance is None  # --no-maintenance never competes

        await add_finished(dsn, "succeeded", "2 hours", 12)
        await add_finished(dsn, "succeeded", "10 minutes", 2)
        await add_finished(dsn, "dead", "30 days", 3)
        await wait_for(
            lambda: _states_are(dsn, {"succeeded": 2, "dead": 3}), message="retention pass"
        )
        pruners = [w.id for w in workers if w.ops.maintenance and w.ops.maintenance.prune_passes]
        assert pruners == [leader]

        # The leader leaves; the lease passes to another worker, which prunes from then on.
        old = next(w for w in workers if w.id == leader)
        await old.stop()
        workers.remove(old)
        await wait_for(lambda: len(leader_ids(workers)) == 1, message="a new leader")
        [new] = leader_ids(workers)
        assert new != leader
        assert await fetchval(dsn, "SELECT holder FROM pgqueue.leases") == new
        await add_finished(dsn, "succeeded", "3 hours", 4)
        await wait_for(lambda: _states_are(dsn, {"succeeded": 2, "dead": 3}), message="prune")
    finally:
        for w in workers:
            await w.stop()
        for a in apps:
            await a.close()


async def _states_are(dsn: str, expected: dict[str, int]) -> bool:
    return await count_states(dsn) == expected


async def test_lease_is_taken_over_after_expiry(dsn: str, app: App) -> None:
    """A leader that dies without releasing: another takes over once the lease expires.

    Expiry is database time (expires_at < now()), so the test moves the lease's expiry into
    the past instead of waiting out a short ttl: a 0.3 s ttl could expire between two calls
    on a loaded machine and make the renewal fail for the wrong reason."""
    await app.open()
    from pgqueue._maintenance import Lease

    first = Lease(app.repository, "maintenance", "worker-1", ttl=60)
    second = Lease(app.repository, "maintenance", "worker-2", ttl=60)
    assert await first.acquire() is True
    assert await second.acquire() is False
    assert await first.acquire() is True  # renewal
    # Each acquire sets the expiry to the ttl from database time.
    assert await fetchval(
        dsn, "SELECT extract(epoch FROM expires_at - now())::float8 FROM pgqueue.leases"
    ) == pytest.approx(60, abs=10)
    assert await second.acquire() is False  # not expired yet: still worker-1's
    await fetchval(dsn, "UPDATE pgqueue.leases SET expires_at = now() - interval '1 ms'")
    assert await second.acquire() is True  # expired: taken over
    assert await first.acquire() is False
    assert await fetchval(dsn, "SELECT holder FROM pgqueue.leases") == "worker-2"


async def test_requeue_dead_by_filter_and_all(dsn: str, app: App) -> None:
    a = await add_finished(dsn, "dead", "1 hour", 3, task="a", queue="q1")
    b = await add_finished(dsn, "dead", "1 hour", 2, task="b", queue="q2")
    c = await add_finished(dsn, "dead", "1 hour", 4, task="c", queue="q2")
    await app.open()
    admin = Admin(app.repository)
    assert await admin.requeue_dead(DeadLetterFilter(ids=[a[0], b[0], 999])) == 2
    assert await admin.requeue_dead(DeadLetterFilter(task="a")) == 2
    assert await admin.requeue_dead(DeadLetterFilter(queue="q2", task="c"), batch_size=3) == 4
    assert await admin.requeue_dead(DeadLetterFilter(), batch_size=1) == 1
    rows = await fetch(dsn, "SELECT state, attempts, finished_at FROM pgqueue.jobs")
    assert {(r["state"], r["attempts"], r["finished_at"]) for r in rows} == {("queued", 0, None)}
    assert len(rows) == len(a + b + c)


async def test_requeue_dead_respects_unique_keys(dsn: str, app: App) -> None:
    older = await add_finished(dsn, "dead", "2 hours", 1, unique_key="k")
    newer = await add_finished(dsn, "dead", "1 hour", 1, unique_key="k")
    held = await add_finished(dsn, "dead", "1 hour", 1, unique_key="busy")
    await fetchval(dsn, "SELECT pgqueue.enqueue('t', unique_key => 'busy')")
    await app.open()
    assert await Admin(app.repository).requeue_dead(DeadLetterFilter()) == 1
    rows = await fetch(
        dsn, "SELECT id, state FROM pgqueue.jobs WHERE id = ANY($1)", [*older, *newer, *held]
    )
    assert {r["id"]: r["state"] for r in rows} == {
        older[0]: "dead",
        newer[0]: "queued",
        held[0]: "dead",
    }


async def ids_left(dsn: str) -> list[int]:
    return [r["id"] for r in await fetch(dsn, "SELECT id FROM pgqueue.jobs ORDER BY id")]


async def test_purge_dead(dsn: str, app: App) -> None:
    old = await add_finished(dsn, "dead", "10 days", 3)
    recent = await add_finished(dsn, "dead", "1 hour", 2, queue="other")
    [done] = await add_finished(dsn, "succeeded", "10 days", 1)
    await app.open()
    admin = Admin(app.repository)
    assert await admin.count_dead(DeadLetterFilter(queue="other")) == 2
    assert await admin.purge_dead(DeadLetterFilter(ids=[old[0]])) == 1
    assert await ids_left(dsn) == [*old[1:], *recent, done]
    assert await admin.purge_dead(DeadLetterFilter(queue="other")) == 2
    assert await ids_left(dsn) == [*old[1:], done]
    assert await admin.purge_dead(DeadLetterFilter(), batch_size=1) == 2
    # Only dead letters are purged: the succeeded job stays.
    assert await count_states(dsn) == {"succeeded": 1}


async def test_cancel_and_retry(dsn: str, app: App) -> None:
    queued = await app.enqueue("t", allow_unknown=True)
    later = await app.enqueue("t", delay=3600, allow_unknown=True)
    running = await app.enqueue("t", allow_unknown=True)
    await fetchval(
        dsn,
        "UPDATE pgqueue.jobs SET state = 'running', attempts = 1, worker_id = gen_random_uuid() "
        "WHERE id = $1 RETURNING id",
        running,
    )
    [dead] = await add_finished(dsn, "dead", "1 hour", 1)
    await app.open()
    admin = Admin(app.repository)
    assert await admin.cancel([queued, later, running, dead, 999]) == [queued, later]
    rows = await fetch(dsn, "SELECT id, state, errors -> -1 ->> 'message' AS m FROM pgqueue.jobs")
    states = {r["id"]: (r["state"], r["m"]) for r in rows}
    assert states[queued] == ("cancelled", "cancelled by an operator")
    assert states[running][0] == "running"
    assert await admin.retry([queued, dead, running, 999]) == [queued, dead]
    after = await fetch(
        dsn, "SELECT id, state, attempts FROM pgqueue.jobs WHERE id = ANY($1)", [queued, dead]
    )
    assert {(r["id"], r["state"], r["attempts"]) for r in after} == {
        (queued, "queued", 0),
        (dead, "queued", 0),
    }
