"""One bad outcome never blocks the others (issue 8, item 1).

An outcome is validated before it is buffered: a retry delay the database cannot represent, or a
result over `max_result_bytes`, fails that job with its reason. And an outcome the database still
refuses is isolated by splitting the batch: only that job fails (kind `outcome_rejected`), every
other outcome of the batch is written.
"""

from __future__ import annotations

import asyncio
import math

import pytest

from pgqueue import App, Retry, current_job
from tests.helpers import count_states, fetchval, running_worker, wait_for


async def nothing_running(dsn: str) -> bool:
    running = await fetchval(
        dsn, "SELECT count(*) FROM pgqueue.jobs WHERE state IN ('running', 'queued', 'retrying')"
    )
    return bool(running == 0)


async def last_error(app: App, job_id: int) -> dict[str, object]:
    info = await app.get_job(job_id)
    assert info.last_error is not None, info
    return info.last_error


@pytest.mark.parametrize("delay", [math.inf, math.nan, 9.3e12, -math.inf])
async def test_an_unstorable_retry_delay_and_a_huge_result_fail_only_their_own_jobs(
    app: App, dsn: str, delay: float
) -> None:
    gate = asyncio.Event()

    @app.task(name="ok")
    async def ok(n: int) -> int:
        await gate.wait()
        return n

    @app.task(name="retry_forever", max_attempts=3)
    async def retry_forever() -> None:
        await gate.wait()
        raise Retry(delay=delay)

    @app.task(name="huge")
    async def huge() -> str:
        await gate.wait()
        return "x" * 5000  # over the configured limit below, far under jsonb's own

    oks = await app.enqueue_many([ok.job(n) for n in range(6)])
    bad_delay = await retry_forever.enqueue()
    too_big = await huge.enqueue()
    # A long flush interval: every outcome below lands in one batch.
    async with running_worker(
        app, concurrency=10, completion_flush_interval=0.5, max_result_bytes=1000
    ) as worker:
        await wait_for(lambda: worker.stats().active == 8, message="all eight jobs running")
        gate.set()
        await wait_for(lambda: nothing_running(dsn), 15, message="every outcome recorded")
    if delay == -math.inf:
        # A negative delay means "at once", as it always did: the job ran all its attempts.
        assert await count_states(dsn) == {"succeeded": 6, "dead": 2}
        assert (await last_error(app, bad_delay))["kind"] == "retry"
    else:
        assert await count_states(dsn) == {"succeeded": 6, "dead": 2}
        error = await last_error(app, bad_delay)
        assert error["kind"] == "invalid_retry", error
        assert "delay" in str(error["message"]) and "10 years" in str(error["message"])
        assert (await app.get_job(bad_delay)).attempts == 1
    assert [await app.result(i, timeout=5) for i in oks] == list(range(6))
    error = await last_error(app, too_big)
    assert error["kind"] == "result", error
    assert "max_result_bytes" in str(error["message"]) and "5002 bytes" in str(error["message"])
    assert (await app.get_job(too_big)).result is None


async def test_retry_policy_delays_beyond_the_database_are_capped_not_failed(
    app: App, dsn: str
) -> None:
    from pgqueue import RetryPolicy

    @app.task(
        name="grows",
        max_attempts=2,
        retry=RetryPolicy(base=1e300, max_delay=math.inf, jitter=0.0),
    )
    async def grows() -> None:
        raise RuntimeError(f"attempt {current_job().attempt}")

    async with running_worker(app):
        job_id = await grows.enqueue()
        await wait_for(
            lambda: fetchval(
                dsn, "SELECT state = 'retrying' FROM pgqueue.jobs WHERE id = $1", job_id
            ),
            message="the job waiting for its retry",
        )
    years = await fetchval(
        dsn,
        "SELECT extract(epoch FROM run_at - now()) / (365 * 86400) FROM pgqueue.jobs WHERE id = $1",
        job_id,
    )
    assert 9.9 < years <= 10.0


async def test_an_error_text_of_any_size_is_stored_bounded(app: App, dsn: str) -> None:
    @app.task(name="loud", max_attempts=1)
    async def loud() -> None:
        raise ValueError("m" * 1_000_000)

    async with running_worker(app):
        job_id = await loud.enqueue()
        await wait_for(lambda: nothing_running(dsn), message="the failure recorded")
    error = await last_error(app, job_id)
    message = str(error["message"])
    assert len(message) <= 4096 and message.startswith("mmm") and "characters cut" in message
    assert len(str(error["traceback"])) <= 16384
