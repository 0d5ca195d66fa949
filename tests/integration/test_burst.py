"""Burst mode: `await worker.run(until_empty=True)` and `pgqueue worker --burst` run every
runnable job of the worker's queues, write every outcome, then stop (the CLI exits 0). Jobs that
are not runnable now (another queue, scheduled for later, a retry with a backoff) stay as they
are. Each run is bounded by a deadline, never a sleep."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from pgqueue import App, constant, current_job
from tests.helpers import count_states, fetch, fetchval
from tests.integration.test_cli import assert_one_clean_error, pgqueue
from tests.integration.test_docs_examples import run_example


async def test_burst_runs_every_job_then_stops(app: App, dsn: str) -> None:
    ran: list[int] = []

    @app.task(name="work")
    async def work(n: int) -> int:
        ran.append(n)
        return n

    await app.enqueue_many([work.job(n) for n in range(50)])
    worker = app.worker(concurrency=4, poll_interval=30)  # a long poll: burst must not wait on it
    await asyncio.wait_for(worker.run(until_empty=True), 20)
    assert sorted(ran) == list(range(50))
    assert await count_states(dsn) == {"succeeded": 50}
    assert worker.stats().processed == 50 and worker.stats().active == 0
    [row] = await fetch(dsn, "SELECT state, processed FROM pgqueue.workers")
    assert (row["state"], row["processed"]) == ("stopped", 50)


async def test_burst_on_an_empty_queue_returns_at_once(app: App, dsn: str) -> None:
    worker = app.worker(poll_interval=30)
    await asyncio.wait_for(worker.run(until_empty=True), 10)
    assert await fetchval(dsn, "SELECT state FROM pgqueue.workers") == "stopped"
    assert await count_states(dsn) == {}


async def test_burst_waits_for_retries_due_now_and_promotions(app: App, dsn: str) -> None:
    @app.task(name="flaky", max_attempts=3, retry=constant(0))
    async def flaky() -> int:
        if current_job().attempt < 3:
            raise RuntimeError("not yet")
        return current_job().attempt

    @app.task(name="later", max_attempts=2, retry=constant(3600))
    async def later() -> None:
        raise RuntimeError("retried in an hour")

    @app.task(name="other", queue="elsewhere")
    async def other() -> None: ...

    @app.task(name="make_due")
    async def make_due(job_id: int) -> None:
        # Comes due while the burst runs, after the promoter's first pass: only the burst's own
        # promotion before it stops can queue it.
        sql = "UPDATE pgqueue.jobs SET run_at = now() - interval '1 s' WHERE id = $1"
        await fetch(dsn, sql, job_id)

    retried = await flaky.enqueue()
    backed_off = await later.enqueue()
    elsewhere = await other.enqueue()
    future = await flaky.using(run_at=datetime.now(UTC) + timedelta(hours=1)).enqueue()
    due = await flaky.using(run_at=datetime.now(UTC) + timedelta(hours=1)).enqueue()
    maker = await make_due.enqueue(due)

    worker = app.worker(concurrency=2, poll_interval=30, schedule_interval=30)
    await asyncio.wait_for(worker.run(until_empty=True), 20)
    states = {
        r["id"]: (r["state"], r["attempts"])
        for r in await fetch(dsn, "SELECT id, state, attempts FROM pgqueue.jobs")
    }
    assert states == {
        retried: ("succeeded", 3),
        due: ("succeeded", 3),
        maker: ("succeeded", 1),
        backed_off: ("retrying", 1),
        elsewhere: ("queued", 0),
        future: ("scheduled", 0),
    }


async def test_stop_ends_a_burst_run(app: App, dsn: str) -> None:
    started = asyncio.Event()

    @app.task(name="slow")
    async def slow() -> None:
        started.set()
        await asyncio.Event().wait()

    await slow.enqueue()
    worker = app.worker(poll_interval=30)
    run = asyncio.create_task(worker.run(until_empty=True))
    await asyncio.wait_for(started.wait(), 10)
    await worker.stop(timeout=0)
    await asyncio.wait_for(run, 10)
    assert await count_states(dsn) == {"queued": 1}  # interrupted: back in the queue


def test_cli_burst_exits_zero_once_the_queue_is_empty(dsn: str) -> None:
    for task, args in (("examples.tasks.greet", '["x"]'), ("examples.tasks.add", "[1, 2]")):
        assert pgqueue("enqueue", task, "--args", args, dsn=dsn).returncode == 0
    done = pgqueue("worker", "examples.tasks:app", "--burst", "--poll-interval", "30", dsn=dsn)
    assert done.returncode == 0, done.stderr
    assert "no runnable job left" in done.stderr
    states = asyncio.run(count_states(dsn))
    assert states == {"succeeded": 2}


def test_cli_burst_refuses_processes(dsn: str) -> None:
    done = pgqueue("worker", "examples.tasks:app", "--burst", "--processes", "2", dsn=dsn)
    message = assert_one_clean_error(done, 2)
    assert "--burst runs one process" in message


def test_docs_example_runs(dsn: str) -> None:
    out = run_example("burst.py", dsn)
    assert "processed 102" in out  # 100 resizes, the upload's two attempts
    assert "upload: succeeded after 2 attempts" in out
    assert asyncio.run(count_states(dsn)) == {"succeeded": 101, "scheduled": 1}
