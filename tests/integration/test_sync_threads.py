"""Sync tasks that hang past their timeout never starve the worker (issue 8, item 4).

A thread cannot be stopped, so the thread of a timed-out sync attempt is abandoned and replaced:
the sync jobs claimed after it still start. Abandoned threads are bounded: at
`max_abandoned_threads` the worker stops claiming and says so in healthcheck(), its metrics,
its row in pgqueue.workers and `pgqueue status`, until some of them return.
"""

from __future__ import annotations

import threading

import pytest

from pgqueue import App, JobFailedError
from tests.helpers import fetch, fetchval, running_worker, wait_for
from tests.integration.test_ops_cli import cli_json
from tests.integration.test_ops_metrics import sample


def define(app: App, release: threading.Event) -> tuple[object, object]:
    @app.task(name="hang", timeout=1, max_attempts=1)
    def hang() -> None:
        release.wait(60)

    @app.task(name="after", timeout=5)
    def after(n: int) -> int:
        return n

    return hang, after


async def hang_two(app: App, hang: object) -> None:
    ids = [await app.enqueue("hang") for _ in range(2)]
    for job_id in ids:
        with pytest.raises(JobFailedError, match="timed out after 1"):
            await app.result(job_id, timeout=20)


async def test_sync_jobs_after_two_hung_ones_still_run(app: App, dsn: str) -> None:
    release = threading.Event()
    hang, after = define(app, release)
    try:
        async with running_worker(app, concurrency=4, sync_threads=2) as worker:
            await hang_two(app, hang)
            assert worker.health().abandoned_threads == 2
            ids = await app.enqueue_many([after.job(n) for n in range(6)])  # type: ignore[attr-defined]
            assert [await app.result(i, timeout=20) for i in ids] == list(range(6))
            assert (await worker.healthcheck())["sync_threads"] is True
        rows = await fetch(dsn, "SELECT task, state, attempts FROM pgqueue.jobs ORDER BY id")
        assert [(r["task"], r["state"], r["attempts"]) for r in rows] == [
            ("hang", "dead", 1),
            ("hang", "dead", 1),
        ] + [("after", "succeeded", 1)] * 6
    finally:
        release.set()


async def beats(dsn: str, worker_id: str) -> object:
    return await fetchval(
        dsn, "SELECT last_heartbeat FROM pgqueue.workers WHERE id = $1::uuid", worker_id
    )


async def test_at_its_abandoned_thread_limit_a_worker_stops_claiming_and_says_so(
    app: App, dsn: str
) -> None:
    release = threading.Event()
    hang, after = define(app, release)
    settings = {
        "concurrency": 4,
        "sync_threads": 2,
        "max_abandoned_threads": 2,
        "heartbeat_interval": 0.2,
        "heartbeat_ttl": 5.0,
        "metrics_port": 0,
        "metrics_host": "127.0.0.1",
    }
    try:
        async with running_worker(app, **settings) as worker:
            await hang_two(app, hang)
            health = await worker.healthcheck()
            assert health == {
                "database": True,
                "listener": True,
                "heartbeat": True,
                "sync_threads": False,
            }
            waiting = await after.enqueue(7)  # type: ignore[attr-defined]
            # Several heartbeats (and claims at poll_interval 0.2s) later it is still queued.
            first = await beats(dsn, worker.id)
            for _ in range(3):
                seen = await beats(dsn, worker.id)
                await wait_for(
                    lambda seen=seen: _later(dsn, worker.id, seen),  # type: ignore[misc]
                    message="a heartbeat",
                )
            assert await beats(dsn, worker.id) != first
            assert (await app.get_job(waiting)).state.value == "queued"
            [row] = await fetch(
                dsn,
                "SELECT abandoned_threads, claiming, healthy, alive FROM pgqueue.worker_stats",
            )
            assert dict(row) == {
                "abandoned_threads": 2,
                "claiming": False,
                "healthy": False,
                "alive": True,
            }
            assert worker.ops.metrics is not None
            text = worker.ops.metrics.exposition()
            assert sample(text, "pgqueue_sync_threads_abandoned") == 2.0
            assert sample(text, "pgqueue_worker_claiming") == 0.0
            status = await cli_json(dsn, "status")
            [shown] = status["workers"]
            assert (shown["claiming"], shown["abandoned_threads"], shown["healthy"]) == (
                False,
                2,
                False,
            )

            release.set()  # the hung threads return: the worker claims again
            assert await app.result(waiting, timeout=20) == 7
            assert (await worker.healthcheck())["sync_threads"] is True
            await wait_for(
                lambda: fetchval(
                    dsn, "SELECT claiming AND abandoned_threads = 0 FROM pgqueue.workers"
                ),
                message="the worker row healthy again",
            )
            assert sample(worker.ops.metrics.exposition(), "pgqueue_worker_claiming") == 1.0
    finally:
        release.set()


async def _later(dsn: str, worker_id: str, seen: object) -> bool:
    return await beats(dsn, worker_id) != seen
