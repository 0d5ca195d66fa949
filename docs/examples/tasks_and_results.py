"""Tasks, retries, timeouts, results and dead letters, run by an in-process worker.

Shows `raise Retry(delay=...)`, a retry policy, max_attempts, async and sync timeouts (a sync
task's thread runs on after its deadline; its result is discarded), JobFailedError, the errors
recorded per attempt, bad input dead-lettered at once, and errors raised before anything is
written.

    pgqueue migrate
    PGQUEUE_DSN=postgresql://user@host/db python docs/examples/tasks_and_results.py

Exits 0 when every assertion holds (tests/integration/test_docs_examples.py runs it).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime
from typing import Any

from pgqueue import (
    App,
    JobFailedError,
    JobState,
    ResultTimeoutError,
    Retry,
    SerializationError,
    constant,
    current_job,
)

app = App()

sync_thread_done = threading.Event()
release_sync_thread = threading.Event()


@app.task(name="docs.flaky", max_attempts=5)
async def flaky(fail_times: int) -> dict[str, int]:
    job = current_job()
    if job.attempt <= fail_times:
        raise Retry(delay=0.1, reason=f"not ready on attempt {job.attempt}")
    return {"attempt": job.attempt, "max_attempts": job.max_attempts}


@app.task(name="docs.charge", max_attempts=2, retry=constant(0.1))
def charge(amount_cents: int) -> None:
    raise ConnectionError(f"payment gateway unreachable (charging {amount_cents})")


@app.task(name="docs.slow_async", timeout=0.2, max_attempts=1)
async def slow_async() -> None:
    await asyncio.sleep(30)  # cancelled at the deadline


@app.task(name="docs.slow_sync", timeout=0.2, max_attempts=1)
def slow_sync() -> str:
    release_sync_thread.wait(10)  # a thread cannot be interrupted: it runs on after the deadline
    sync_thread_done.set()
    return "too late"


async def outcome(job_id: int) -> Any:
    """The result, or (final state, attempts, error kinds, exception type, message) of a job
    that did not succeed. Match on the error `kind`; `type` is the exception's class."""
    try:
        return await app.result(job_id, timeout=30)
    except JobFailedError as exc:
        info = await app.get_job(job_id)
        kinds = [e["kind"] for e in info.errors]
        return (exc.state, info.attempts, kinds, exc.exc_type, exc.exc_message)


async def main() -> None:
    async with app:
        # Runs again and again: what an earlier run left (its jobs, task names docs.*) goes.
        await app.repository.pool.execute("DELETE FROM pgqueue.jobs WHERE task LIKE 'docs.%'")
        # Refused before anything is written: not JSON, or not fitting the signature.
        try:
            await flaky.enqueue(datetime.now(UTC))  # type: ignore[arg-type]
        except SerializationError as exc:
            assert isinstance(exc, TypeError)
            print(f"refused: {exc}")
        try:
            await flaky.enqueue(1, 2)  # type: ignore[call-arg]
        except TypeError as exc:
            print(f"refused: {exc}")
        assert not await app.repository.pool.fetchval(  # nothing was stored
            "SELECT count(*) FROM pgqueue.jobs WHERE task LIKE 'docs.%'"
        )

        # Nobody serves this queue: waiting for the result times out.
        unserved = await flaky.using(queue="nobody").enqueue(0)
        try:
            await app.result(unserved, timeout=0.2)
        except ResultTimeoutError as exc:
            print(f"result timeout: {exc}")

        worker = app.worker(concurrency=4)
        await worker.start()
        try:
            jobs = {
                "flaky": await flaky.enqueue(2),
                "charge": await charge.enqueue(500),
                "slow_async": await slow_async.enqueue(),
                "slow_sync": await slow_sync.enqueue(),
                # Written by hand, bypassing the Python checks: dead-lettered at once, no retries.
                "unknown task": await app.enqueue("docs.nope", [1], allow_unknown=True),
                "bad arguments": await app.repository.pool.fetchval(
                    "SELECT pgqueue.enqueue('docs.flaky', '[1, 2, 3]')"
                ),
            }
            outcomes = {name: await outcome(job_id) for name, job_id in jobs.items()}
            # The timed-out sync task's thread is still running; let it finish.
            release_sync_thread.set()
            assert await asyncio.to_thread(sync_thread_done.wait, 10)
            sync_info = await app.get_job(jobs["slow_sync"])
        finally:
            await worker.stop()

    for name, value in outcomes.items():
        print(f"{name}: {value}")
    print(
        f"slow_sync after its thread finished: {sync_info.state.value}, result {sync_info.result}"
    )

    assert outcomes["flaky"] == {"attempt": 3, "max_attempts": 5}
    assert outcomes["charge"] == (
        "dead",
        2,
        ["exception", "exception"],
        "ConnectionError",
        "payment gateway unreachable (charging 500)",
    )
    timed_out = ("dead", 1, ["timeout"], "TimeoutError", "timed out after 0.2s")
    assert outcomes["slow_async"] == timed_out
    assert outcomes["slow_sync"] == timed_out
    state, attempts, kinds, _, message = outcomes["unknown task"]
    assert (state, attempts, kinds) == ("dead", 1, ["unknown_task"])
    assert message == "no task named 'docs.nope' is registered in this worker"
    state, attempts, kinds, _, message = outcomes["bad arguments"]
    assert (state, attempts, kinds) == ("dead", 1, ["payload"])
    assert message.startswith("arguments do not fit docs.flaky")
    assert sync_info.state == JobState.DEAD and sync_info.result is None


if __name__ == "__main__":
    # The library logs retries and dead letters through `pgqueue.*` loggers; the program decides
    # where they go.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main())
