"""The worker runs every job exactly once in priority order, honours run_at, retries with backoff,
dead-letters with every attempt's error, and keeps serving when a job is broken."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from typing import Any

import pytest

from pgqueue import App, JobFailedError, JobState, ResultTimeoutError, Retry, constant, current_job
from tests.helpers import all_finished, count_states, fetch, fetchval, running_worker, wait_for


async def test_async_and_sync_tasks_and_results(app: App) -> None:
    loop_threads: set[int] = set()
    sync_threads: set[int] = set()

    @app.task(name="a")
    async def a(x: int) -> dict[str, int]:
        loop_threads.add(threading.get_ident())
        return {"x": x}

    @app.task(name="s")
    def s(x: int) -> list[int]:
        sync_threads.add(threading.get_ident())
        time.sleep(0.05)  # blocking on purpose: must not block the event loop
        return [x, current_job().attempt]

    async with running_worker(app) as worker:
        ja, js = await a.enqueue(1), await s.enqueue(2)
        assert await app.result(ja, timeout=10) == {"x": 1}
        assert await app.result(js, timeout=10) == [2, 1]
        assert worker.stats().processed == 2
    assert threading.get_ident() in loop_threads
    assert sync_threads and threading.get_ident() not in sync_threads
    info = await app.get_job(js)
    assert info.state == JobState.SUCCEEDED and info.attempts == 1
    assert info.started_at is not None and info.finished_at is not None
    assert info.started_at <= info.finished_at


async def test_sync_tasks_do_not_block_the_event_loop(app: App) -> None:
    release = threading.Event()

    @app.task(name="blocker")
    def blocker() -> None:
        release.wait(10)

    @app.task(name="quick")
    async def quick() -> str:
        return "done"

    async with running_worker(app, concurrency=4):
        await blocker.enqueue()
        job = await quick.enqueue()
        # The async job finishes while the sync one is still blocked in its thread.
        assert await app.result(job, timeout=10) == "done"
        release.set()


async def test_priority_order_with_one_slot(app: App, dsn: str) -> None:
    order: list[int] = []

    @app.task(name="p")
    async def p(n: int) -> None:
        order.append(n)

    ids = []
    for n, priority in enumerate([0, 10, -10, 20, 10, 0]):
        ids.append(await p.using(priority=priority).enqueue(n))
    async with running_worker(app, concurrency=1):
        await wait_for(lambda: all_finished(dsn, 6), message="six jobs")
    # Higher first; FIFO within a priority.
    assert order == [3, 1, 4, 0, 5, 2]


async def test_delayed_job_does_not_start_early(app: App, dsn: str) -> None:
    @app.task(name="later")
    async def later() -> float:
        job = await app.get_job(current_job().job_id)
        return (job.started_at - job.run_at).total_seconds() if job.started_at else -1.0

    async with running_worker(app):
        job_id = await later.using(delay=1.0).enqueue()
        await wait_for(
            lambda: fetchval(
                dsn, "SELECT state = 'scheduled' FROM pgqueue.jobs WHERE id=$1", job_id
            ),
            message="scheduled state",
        )
        lateness = await app.result(job_id, timeout=10)
    # Database time decides: the job started at or after its run_at.
    assert lateness >= 0
    row = await fetch(
        dsn, "SELECT started_at >= run_at AS ok, run_at - enqueued_at AS d FROM pgqueue.jobs"
    )
    assert row[0]["ok"] is True


async def test_retry_then_success_records_errors(app: App) -> None:
    @app.task(name="flaky", max_attempts=4, retry=constant(0.05))
    async def flaky() -> int:
        attempt = current_job().attempt
        if attempt < 3:
            raise ValueError(f"boom {attempt}")
        return attempt

    async with running_worker(app):
        job_id = await flaky.enqueue()
        assert await app.result(job_id, timeout=15) == 3
    info = await app.get_job(job_id)
    assert info.attempts == 3
    assert [(e["attempt"], e["type"], e["message"]) for e in info.errors] == [
        (1, "ValueError", "boom 1"),
        (2, "ValueError", "boom 2"),
    ]
    assert "raise ValueError" in info.errors[0]["traceback"]


async def test_explicit_retry_delay(app: App, dsn: str) -> None:
    @app.task(name="later", max_attempts=2)
    async def ask() -> str:
        if current_job().attempt == 1:
            raise Retry(delay=60)
        return "never within this test"

    async with running_worker(app):
        job_id = await ask.enqueue()
        await wait_for(
            lambda: fetchval(
                dsn, "SELECT state = 'retrying' FROM pgqueue.jobs WHERE id=$1", job_id
            ),
            message="retrying",
        )
    wait = await fetchval(
        dsn, "SELECT extract(epoch FROM run_at - now()) FROM pgqueue.jobs WHERE id=$1", job_id
    )
    assert 50 < float(wait) <= 60


async def test_dead_letter_after_max_attempts(app: App) -> None:
    @app.task(name="broken", max_attempts=3, retry=constant(0))
    def broken() -> None:
        raise RuntimeError("always")

    async with running_worker(app):
        job_id = await broken.enqueue()
        with pytest.raises(JobFailedError) as failure:
            await app.result(job_id, timeout=15)
    assert failure.value.state == "dead"
    assert failure.value.exc_type == "RuntimeError"
    assert failure.value.exc_message == "always"
    assert "RuntimeError: always" in (failure.value.traceback or "")
    info = await app.get_job(job_id)
    assert info.state == JobState.DEAD and info.attempts == 3
    assert [e["attempt"] for e in info.errors] == [1, 2, 3]


async def test_default_max_attempts_applies_when_unset(dsn: str) -> None:
    app = App(dsn, default_max_attempts=2)

    @app.task(name="fails", retry=constant(0))
    async def fails() -> None:
        raise KeyError("k")

    try:
        async with running_worker(app):
            job_id = await fails.enqueue()
            with pytest.raises(JobFailedError):
                await app.result(job_id, timeout=10)
        assert (await app.get_job(job_id)).attempts == 2
    finally:
        await app.close()


async def test_bad_jobs_are_dead_lettered_and_the_worker_goes_on(app: App, dsn: str) -> None:
    @app.task(name="ok")
    async def ok(x: int) -> int:
        return x

    @app.task(name="badresult")
    async def badresult() -> Any:
        return {1, 2}

    bad = {
        "unknown": "SELECT pgqueue.enqueue('no.such.task', '[1]')",
        "arity": "SELECT pgqueue.enqueue('ok', '[1, 2, 3]')",
        "kwarg": "SELECT pgqueue.enqueue('ok', '[]', '{\"y\": 1}')",
        # Hand-written rows that bypass the enqueue function's checks.
        "args_object": "INSERT INTO pgqueue.jobs (task, args) VALUES ('ok', '{\"x\": 1}') RETURNING id",
        "kwargs_array": "INSERT INTO pgqueue.jobs (task, kwargs) VALUES ('ok', '[1]') RETURNING id",
        "result": "SELECT pgqueue.enqueue('badresult')",
    }
    ids = {name: await fetchval(dsn, sql) for name, sql in bad.items()}
    good = [await ok.enqueue(i) for i in range(5)]
    async with running_worker(app):
        assert [await app.result(j, timeout=10) for j in good] == list(range(5))
        await wait_for(lambda: all_finished(dsn, len(bad) + 5), message="all jobs finished")
    reasons = {}
    for name, job_id in ids.items():
        info = await app.get_job(job_id)
        assert info.state == JobState.DEAD, name
        assert info.attempts == 1, name  # no retries for input that can never work
        reasons[name] = (info.errors[-1]["kind"], info.errors[-1]["message"])
    assert reasons["unknown"] == (
        "unknown_task",
        "no task named 'no.such.task' is registered in this worker",
    )
    assert (
        reasons["arity"][0] == "payload" and "too many positional arguments" in reasons["arity"][1]
    )
    assert (
        reasons["kwarg"][0] == "payload"
        and "missing a required argument: 'x'" in reasons["kwarg"][1]
    )
    assert (
        reasons["args_object"][0] == "payload"
        and "args must be a JSON array" in reasons["args_object"][1]
    )
    assert (
        reasons["kwargs_array"][0] == "payload"
        and "kwargs must be a JSON object" in reasons["kwargs_array"][1]
    )
    assert reasons["result"][0] == "result" and "not JSON serializable" in reasons["result"][1]
    assert await count_states(dsn) == {"dead": 6, "succeeded": 5}


async def test_async_timeout_retries_then_dead(app: App) -> None:
    @app.task(name="slow", timeout=0.1, max_attempts=2, retry=constant(0))
    async def slow() -> None:
        await asyncio.sleep(30)

    async with running_worker(app):
        job_id = await slow.enqueue()
        with pytest.raises(JobFailedError) as failure:
            await app.result(job_id, timeout=15)
    info = await app.get_job(job_id)
    assert info.attempts == 2
    assert [e["kind"] for e in info.errors] == ["timeout", "timeout"]
    assert failure.value.exc_message == "timed out after 0.1s"


async def test_result_timeout(app: App) -> None:
    @app.task(name="never")
    async def never() -> None:
        return None

    job_id = await never.enqueue()  # no worker running
    with pytest.raises(ResultTimeoutError, match=r"did not finish within 0\.2s"):
        await app.result(job_id, timeout=0.2)


async def test_results_are_woken_by_notify_not_polling(app: App) -> None:
    gate = asyncio.Event()

    @app.task(name="fast")
    async def fast() -> str:
        await gate.wait()
        return "ok"

    async with running_worker(app):
        job_id = await fast.enqueue()
        # Not finished yet: this first wait times out (and sets up the result listener).
        with pytest.raises(ResultTimeoutError):
            await app.result(job_id, timeout=0.2, poll_interval=60)
        # No deadline of its own, so no early re-read: result() reads the row, then waits for
        # the notice or its 60 s poll. The job finishes while it waits; a bound of 20 s
        # (a third of the poll) can only be met by the completion NOTIFY.
        waiter = asyncio.create_task(app.result(job_id, poll_interval=60))
        gate.set()
        try:
            assert await asyncio.wait_for(asyncio.shield(waiter), 20) == "ok"
        finally:
            waiter.cancel()


async def test_2000_jobs_over_4_workers_each_run_exactly_once(dsn: str) -> None:
    runs: Counter[int] = Counter()
    by_worker: Counter[int] = Counter()
    # Every job waits at its start until all four workers serve: the first worker up cannot
    # drain the queue alone, so each of them holds (and runs) at least its 8 slots' worth.
    all_serving = asyncio.Event()
    apps = [App(dsn) for _ in range(4)]
    for index, application in enumerate(apps):

        @application.task(name="count")
        async def count(n: int, index: int = index) -> None:
            await all_serving.wait()
            runs[n] += 1
            by_worker[index] += 1

    try:
        await apps[0].enqueue_many([apps[0].registry.require("count").job(n) for n in range(2000)])
        async with contextlib.AsyncExitStack() as workers:
            try:
                for application in apps:
                    await workers.enter_async_context(running_worker(application, concurrency=8))
                all_serving.set()
                await wait_for(lambda: all_finished(dsn, 2000), timeout=60, message="2000 jobs")
            finally:
                all_serving.set()
        assert len(runs) == 2000
        assert set(runs.values()) == {1}
        assert sum(by_worker.values()) == 2000
        assert sorted(by_worker) == [0, 1, 2, 3] and min(by_worker.values()) >= 8, by_worker
        assert await count_states(dsn) == {"succeeded": 2000}
        attempts = await fetch(dsn, "SELECT attempts, count(*) AS n FROM pgqueue.jobs GROUP BY 1")
        assert [(r["attempts"], r["n"]) for r in attempts] == [(1, 2000)]
    finally:
        for application in apps:
            await application.close()


async def test_worker_serves_only_its_queues(app: App, dsn: str) -> None:
    @app.task(name="q")
    async def q() -> None:
        return None

    other = await q.using(queue="other").enqueue()
    mine = await q.using(queue="mine").enqueue()
    async with running_worker(app, queues=("mine",)):
        await app.result(mine, timeout=10)
    assert (await app.get_job(other)).state == JobState.QUEUED


async def test_graceful_stop_lets_running_jobs_finish(app: App, dsn: str) -> None:
    started = asyncio.Event()

    @app.task(name="work")
    async def work() -> str:
        started.set()
        await asyncio.sleep(0.3)
        return "finished"

    worker = app.worker(poll_interval=0.2)
    await worker.start()
    job_id = await work.enqueue()
    await asyncio.wait_for(started.wait(), 10)
    await worker.stop(timeout=10)
    info = await app.get_job(job_id)
    assert info.state == JobState.SUCCEEDED and info.result == "finished"


async def test_stop_timeout_puts_unfinished_jobs_back_in_the_queue(app: App, dsn: str) -> None:
    started = asyncio.Event()

    @app.task(name="long")
    async def long() -> None:
        started.set()
        await asyncio.sleep(60)

    worker = app.worker(poll_interval=0.2)
    await worker.start()
    job_id = await long.enqueue()
    await asyncio.wait_for(started.wait(), 10)
    await worker.stop(timeout=0.1)
    info = await app.get_job(job_id)
    # Straight back to the queue, the interrupted attempt not counted, nothing left running.
    assert info.state == JobState.QUEUED
    assert info.attempts == 0
    assert info.errors[-1]["kind"] == "shutdown"
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs WHERE state = 'running'") == 0


async def test_a_timeout_error_raised_by_the_task_is_an_ordinary_failure(app: App) -> None:
    @app.task(name="raises_timeout", max_attempts=1)
    async def raises_timeout() -> None:
        raise TimeoutError("upstream API timed out")

    async with running_worker(app):
        job_id = await raises_timeout.enqueue()
        with pytest.raises(JobFailedError):
            await app.result(job_id, timeout=10)
    [error] = (await app.get_job(job_id)).errors
    assert (error["kind"], error["type"], error["message"]) == (
        "exception",
        "TimeoutError",
        "upstream API timed out",
    )


async def test_sync_timeout_clock_starts_when_a_thread_picks_the_job_up(app: App) -> None:
    """A hung sync task keeps its thread; a job queued behind it must not time out waiting."""
    release = threading.Event()

    @app.task(name="hang", timeout=0.2, max_attempts=1)
    def hang() -> None:
        release.wait(10)

    @app.task(name="after", timeout=0.5)
    def after() -> str:
        return "ran"

    try:
        async with running_worker(app, concurrency=2, sync_threads=1):
            hung = await hang.enqueue()
            with pytest.raises(JobFailedError, match="timed out"):
                await app.result(hung, timeout=10)
            queued = await after.enqueue()
            await asyncio.sleep(0.6)  # deliberately longer than after's own timeout
            release.set()
            assert await app.result(queued, timeout=10) == "ran"
    finally:
        release.set()


async def test_system_exit_in_a_task_is_a_failure_of_that_job(app: App) -> None:
    @app.task(name="exits", max_attempts=2, retry=constant(0))
    async def exits() -> None:
        raise SystemExit(3)

    async with running_worker(app) as worker:
        job_id = await exits.enqueue()
        with pytest.raises(JobFailedError):
            await app.result(job_id, timeout=10)
        assert worker.stats().processed == 2
    info = await app.get_job(job_id)
    assert info.attempts == 2 and [e["type"] for e in info.errors] == ["SystemExit", "SystemExit"]
