"""The monitoring views against known database states, through pgqueue._monitoring (what the
CLI and metrics read) and through plain SQL (what psql and Grafana read)."""

from __future__ import annotations

import asyncpg
import pytest

from pgqueue import App
from pgqueue._monitoring import Monitor, QueueStats, TaskThroughput
from tests.helpers import fetch

# A known state: (queue, task, state, attempts, run_at, started_at, finished_at) with times
# relative to now(); errors get one entry for dead jobs.
ROWS = [
    ("a", "t1", "queued", 0, "-90 seconds", None, None),
    ("a", "t1", "queued", 0, "-30 seconds", None, None),
    ("a", "t1", "scheduled", 0, "+1 hour", None, None),
    ("a", "t1", "running", 1, "-5 seconds", "-5 seconds", None),
    ("a", "t2", "retrying", 1, "+10 seconds", "-20 seconds", None),
    ("a", "t1", "succeeded", 1, "-3 minutes", "-2 minutes", "-1 minute"),
    ("a", "t1", "succeeded", 2, "-3 minutes", "-150 seconds", "-2 minutes"),
    ("a", "t2", "dead", 3, "-4 minutes", "-3 minutes", "-3 minutes"),
    ("a", "t1", "succeeded", 1, "-2 hours", "-2 hours", "-2 hours"),  # outside every window
    ("a", "t2", "dead", 3, "-2 days", "-2 days", "-2 days"),  # old dead letter
    ("b", "t3", "succeeded", 1, "-20 minutes", "-20 minutes", "-1190 seconds"),
    ("b", "t3", "cancelled", 0, "-10 minutes", None, "-10 minutes"),
    ("c", "t1", "scheduled", 0, "+1 day", None, None),
]


async def load(dsn: str, rows: list[tuple[object, ...]] = ROWS) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for queue, task, state, attempts, run_at, started, finished in rows:
            await conn.execute(
                """
                INSERT INTO pgqueue.jobs (queue, task, state, attempts, run_at, started_at,
                                          finished_at, worker_id, errors)
                VALUES ($1, $2, $3, $4, now() + $5::text::interval, now() + $6::text::interval,
                        now() + $7::text::interval,
                        CASE WHEN $3 = 'running' THEN gen_random_uuid() END,
                        CASE WHEN $3 = 'dead' THEN jsonb_build_array(
                            jsonb_build_object('attempt', 2, 'type', 'KeyError', 'message', 'old'),
                            jsonb_build_object('attempt', $4::int, 'type', 'ValueError',
                                               'message', 'boom ' || $2))
                             ELSE '[]' END)
                """,
                queue,
                task,
                state,
                attempts,
                run_at,
                started,
                finished,
            )
    finally:
        await conn.close()


async def test_queue_stats(dsn: str, app: App) -> None:
    await load(dsn)
    await app.open()
    stats = await Monitor(app.repository).queues()
    by_queue = {q.queue: q for q in stats}
    # b has nothing active, dead or finished in the last 5 minutes: not listed (listing every
    # queue ever used would mean reading the history).
    assert [q.queue for q in stats] == ["a", "c"]
    a = by_queue["a"]
    assert (a.ready, a.scheduled, a.running, a.retrying, a.dead) == (2, 1, 1, 1, 2)
    assert (a.succeeded_5m, a.failed_5m) == (2, 1)
    assert 90 <= a.lag_seconds < 120
    assert a.oldest_ready_at is not None
    assert by_queue["c"] == QueueStats("c", 0, 1, 0, 0, 0, 0, 0, None, 0.0)
    # Only the queues asked for.
    assert [q.queue for q in await Monitor(app.repository).queues(["c"])] == ["c"]


async def test_task_throughput(dsn: str, app: App) -> None:
    await load(dsn)
    await app.open()
    rows = await Monitor(app.repository).throughput()
    # Bucket boundaries depend on the second the test runs in; compare without the minute.
    summary = sorted(
        (r.queue, r.task, r.finished, r.succeeded, r.failed, r.cancelled, r.retries) for r in rows
    )
    merged: dict[tuple[str, str], list[int]] = {}
    for queue, task, *counts in summary:
        total = merged.setdefault((queue, task), [0, 0, 0, 0, 0])
        for i, n in enumerate(counts):
            total[i] += n
    assert merged == {
        ("a", "t1"): [2, 2, 0, 0, 1],
        ("a", "t2"): [1, 0, 1, 0, 2],
        ("b", "t3"): [2, 1, 0, 1, 0],
    }
    failing = [r for r in rows if r.task == "t2"]
    assert failing == [TaskThroughput(failing[0].minute, "a", "t2", 1, 0, 1, 0, 2, 1.0)]
    assert all(r.minute.second == 0 for r in rows)


async def test_task_runtimes(dsn: str, app: App) -> None:
    await load(dsn)
    await app.open()
    rows = {r.task: r for r in await Monitor(app.repository).runtimes()}
    assert sorted(rows) == ["t1", "t3"]  # succeeded in the last hour only
    t1 = rows["t1"]
    assert t1.jobs == 2
    assert t1.p50_seconds == pytest.approx(45.0)
    assert t1.p90_seconds == pytest.approx(57.0)
    assert t1.p99_seconds == pytest.approx(59.7)
    assert t1.max_seconds == pytest.approx(60.0)
    assert t1.mean_seconds == pytest.approx(45.0)
    assert rows["t3"].jobs == 1 and rows["t3"].p50_seconds == pytest.approx(10.0)


async def test_dead_letters(dsn: str, app: App) -> None:
    await load(dsn)
    await app.open()
    letters = await Monitor(app.repository).dead_letters()
    assert [(d.queue, d.task, d.attempts, d.error_type, d.error_message) for d in letters] == [
        ("a", "t2", 3, "ValueError", "boom t2"),
        ("a", "t2", 3, "ValueError", "boom t2"),
    ]
    assert letters[0].died_at is not None and letters[1].died_at is not None
    assert letters[0].died_at > letters[1].died_at  # latest first
    assert letters[0].last_error == {"attempt": 3, "type": "ValueError", "message": "boom t2"}
    assert await Monitor(app.repository).dead_letters(queue="b") == []
    rows = await fetch(dsn, "SELECT error_type, count(*) AS n FROM pgqueue.dead_letters GROUP BY 1")
    assert [(r["error_type"], r["n"]) for r in rows] == [("ValueError", 2)]


async def test_worker_stats(dsn: str, app: App) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        live, stale, stopped, slow = (
            "00000000-0000-0000-0000-00000000000a",
            "00000000-0000-0000-0000-00000000000b",
            "00000000-0000-0000-0000-00000000000c",
            "00000000-0000-0000-0000-00000000000d",
        )
        await conn.execute(
            """
            INSERT INTO pgqueue.workers (id, hostname, pid, queues, concurrency, started_at,
                                         last_heartbeat, state, processed, failed, active, version,
                                         heartbeat_ttl)
            VALUES ($1, 'h1', 11, '{a,b}', 10, now() - interval '1 hour',
                    now() - interval '2 seconds', 'running', 100, 3, 2, '0.1.0', '30 seconds'),
                   ($2, 'h2', 22, '{a}', 5, now() - interval '2 hours',
                    now() - interval '5 minutes', 'running', 50, 0, 1, '0.1.0', '30 seconds'),
                   ($3, 'h3', 33, '{c}', 1, now() - interval '3 hours',
                    now() - interval '1 second', 'stopped', 7, 7, 0, '0.1.0', '30 seconds'),
                   ($4, 'h4', 44, '{c}', 1, now() - interval '3 hours',
                    now() - interval '50 seconds', 'running', 0, 0, 0, '0.1.0', '1 minute')
            """,
            live,
            stale,
            stopped,
            slow,
        )
        await conn.execute(
            "INSERT INTO pgqueue.jobs (task, state, worker_id, attempts) VALUES "
            "('t', 'running', $1, 1), ('t', 'running', $1, 1), ('t', 'running', $2, 1)",
            live,
            stale,
        )
    finally:
        await conn.close()
    await app.open()
    workers = await Monitor(app.repository).workers()
    assert workers is not None
    got = [
        (
            w.hostname,
            w.pid,
            w.queues,
            w.state,
            w.alive,
            w.processed,
            w.failed,
            w.active,
            w.running_jobs,
        )
        for w in workers
    ]
    assert got == [
        # Live ones first. h4 beat 50 s ago but registered a 1 minute heartbeat_ttl.
        ("h1", 11, ["a", "b"], "running", True, 100, 3, 2, 2),
        ("h4", 44, ["c"], "running", True, 0, 0, 0, 0),
        ("h2", 22, ["a"], "running", False, 50, 0, 1, 1),
        ("h3", 33, ["c"], "stopped", False, 7, 7, 0, 0),
    ]
    ages = {w.hostname: w.heartbeat_age_seconds for w in workers}
    assert 2 <= ages["h1"] < 30 and 300 <= ages["h2"] < 330


async def test_status_without_workers_table(dsn: str, app: App) -> None:
    await app.open()
    monitor = Monitor(app.repository)
    status = await monitor.status()
    assert (status.queues, status.workers) == ([], [])
    # A database whose workers table is gone (the view with it): queues still report, workers
    # are "unknown" (None), not an error and not an empty list.
    await app.repository.pool.execute("DROP VIEW pgqueue.worker_stats")
    await app.repository.pool.execute("DROP TABLE pgqueue.workers")
    await app.enqueue("t", allow_unknown=True)
    status = await monitor.status()
    assert [(q.queue, q.ready) for q in status.queues] == [("default", 1)]
    assert status.workers is None
