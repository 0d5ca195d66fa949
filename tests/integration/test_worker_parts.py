"""A worker is built from its parts (pgqueue._worker.WorkerParts), not from an App: given a
repository, a registry and a clock of its own, it claims, runs and records jobs, and the App is
only where the tasks were registered and the result is read."""

from __future__ import annotations

from pgqueue import App, Worker
from pgqueue._clock import ManualClock
from pgqueue._repository import Repository, create_pool
from pgqueue._worker import WorkerParts
from tests.helpers import count_states, fetchval


async def test_a_worker_built_from_its_parts_alone_runs_jobs(app: App, dsn: str) -> None:
    @app.task(name="double")
    async def double(x: int) -> int:
        return 2 * x

    ids = [await double.enqueue(n) for n in range(3)]
    pool = await create_pool(dsn, max_size=4)
    repository = Repository(pool, dsn)

    async def open_repository() -> Repository:
        return repository

    parts = WorkerParts(
        repository=open_repository,
        registry=app.registry,
        dsn=dsn,
        schedules={},
        make_request=app.request,
        listener=None,  # poll only
    )
    worker = Worker(parts, poll_interval=0.05, maintenance=False)
    try:
        await worker.start()
        assert worker.listener_connected is None
        assert [await app.result(i, timeout=20) for i in ids] == [0, 2, 4]
    finally:
        await worker.stop(timeout=10)
        await pool.close()
    assert await count_states(dsn) == {"succeeded": 3}
    assert worker.stats().processed == 3
    assert await fetchval(dsn, "SELECT state FROM pgqueue.workers WHERE id = $1", worker.id) == (
        "stopped"
    )


async def test_app_worker_hands_its_clock_to_the_worker_and_its_services(app: App) -> None:
    clock = ManualClock(start=100.0)
    worker = app.worker(clock=clock)
    assert worker.clock is clock and worker.parts.clock is clock
    assert worker.stats().uptime == 0.0
    assert worker.parts.registry is app.registry and worker.parts.schedules is app.schedules
