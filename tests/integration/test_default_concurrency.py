"""A plain `pgqueue worker` and `app.worker()` run at WorkerSettings().concurrency, as their row
in pgqueue.workers records; PGQUEUE_CONCURRENCY and --concurrency beat it (docs/worker.md,
"Concurrency")."""

from __future__ import annotations

import asyncio

from pgqueue import App
from pgqueue.settings import WorkerSettings
from tests.helpers import count_states, fetch
from tests.integration.test_cli import pgqueue

DEFAULT = WorkerSettings().concurrency


async def worker_concurrencies(dsn: str) -> list[int]:
    return [r["concurrency"] for r in await fetch(dsn, "SELECT concurrency FROM pgqueue.workers")]


def test_a_plain_cli_worker_runs_at_the_default(dsn: str) -> None:
    assert pgqueue("enqueue", "examples.tasks.add", "--args", "[1, 2]", dsn=dsn).returncode == 0
    done = pgqueue("worker", "examples.tasks:app", "--burst", dsn=dsn)
    assert done.returncode == 0, done.stderr
    assert f"with concurrency {DEFAULT}" in done.stderr
    assert asyncio.run(worker_concurrencies(dsn)) == [DEFAULT]
    assert asyncio.run(count_states(dsn)) == {"succeeded": 1}
    done = pgqueue("worker", "examples.tasks:app", "--burst", dsn=dsn, PGQUEUE_CONCURRENCY="7")
    assert done.returncode == 0, done.stderr
    done = pgqueue("worker", "examples.tasks:app", "--burst", "-c", "3", dsn=dsn)
    assert done.returncode == 0, done.stderr
    assert sorted(asyncio.run(worker_concurrencies(dsn))) == sorted([DEFAULT, 7, 3])


async def test_app_worker_runs_at_the_default(app: App, dsn: str) -> None:
    ran: list[int] = []

    @app.task(name="work")
    async def work(n: int) -> None:
        ran.append(n)

    await app.enqueue_many([work.job(n) for n in range(DEFAULT + 5)])
    worker = app.worker(poll_interval=30)
    await asyncio.wait_for(worker.run(until_empty=True), 30)
    assert sorted(ran) == list(range(DEFAULT + 5))
    assert await worker_concurrencies(dsn) == [DEFAULT]
    assert await count_states(dsn) == {"succeeded": DEFAULT + 5}
