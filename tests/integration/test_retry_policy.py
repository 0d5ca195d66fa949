"""Retries wait what the task's policy says, measured in database time: the outcome's write and
the retry's run_at come from the same statement, so their difference is the delay exactly (no
Python clock, no sleep). Time is moved forward by moving the job's run_at, not by waiting."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pgqueue import App, JobFailedError, JobState, Retry, RetryPolicy, constant, current_job
from tests.helpers import fetch, running_worker, wait_for


async def attempt_rows(dsn: str, job_id: int) -> dict[str, Any]:
    [row] = await fetch(
        dsn,
        "SELECT state, attempts, errors::text AS errors, finished_at, "
        "extract(epoch FROM run_at - (errors -> -1 ->> 'at')::timestamptz)::float8 AS delay, "
        "extract(epoch FROM run_at - now())::float8 AS due_in "
        "FROM pgqueue.jobs WHERE id = $1",
        job_id,
    )
    return {**dict(row), "errors": json.loads(row["errors"])}


async def failures(dsn: str, job_id: int, n: int) -> bool:
    """True once `n` failed attempts are recorded."""
    return len((await attempt_rows(dsn, job_id))["errors"]) >= n


async def make_due(dsn: str, job_id: int) -> None:
    """The retry's wait is over: as if its delay had passed, without waiting for it."""
    await fetch(dsn, "UPDATE pgqueue.jobs SET run_at = now() WHERE id = $1", job_id)


async def test_failed_job_waits_its_retry_policy_delay(app: App, dsn: str) -> None:
    @app.task(name="flaky", max_attempts=3, retry=RetryPolicy(base=30, factor=3, jitter=0))
    async def flaky() -> None:
        raise RuntimeError(f"attempt {current_job().attempt}")

    async with running_worker(app):
        job_id = await flaky.enqueue()
        await wait_for(lambda: failures(dsn, job_id, 1), message="the first failure")
        first = await attempt_rows(dsn, job_id)
        assert (first["state"], first["attempts"]) == ("retrying", 1)
        assert first["delay"] == pytest.approx(30.0, abs=1e-6)  # base * factor**0
        assert 0 < first["due_in"] <= 30.0
        await make_due(dsn, job_id)
        await wait_for(lambda: failures(dsn, job_id, 2), message="the second failure")
        second = await attempt_rows(dsn, job_id)
        assert (second["state"], second["attempts"]) == ("retrying", 2)
        assert second["delay"] == pytest.approx(90.0, abs=1e-6)  # base * factor**1
    assert [e["message"] for e in second["errors"]] == ["attempt 1", "attempt 2"]


async def test_retry_delay_with_jitter_stays_within_the_policys_bounds(app: App, dsn: str) -> None:
    @app.task(name="jittery", max_attempts=2, retry=RetryPolicy(base=40, jitter=0.5))
    async def jittery(n: int) -> None:
        raise RuntimeError("no")

    async with running_worker(app):
        ids = await app.enqueue_many([jittery.job(n) for n in range(20)])
        for job_id in ids:
            await wait_for(lambda: failures(dsn, job_id, 1), message="the first failure")  # noqa: B023
        delays = [(await attempt_rows(dsn, job_id))["delay"] for job_id in ids]
    # Jitter 0.5 takes up to half the delay off: anywhere from 20 s to 40 s, never the same.
    assert all(20.0 - 1e-6 <= d <= 40.0 + 1e-6 for d in delays), delays
    assert len({round(d, 3) for d in delays}) > 1


async def test_retry_raised_by_the_task_overrides_the_policy(app: App, dsn: str) -> None:
    @app.task(name="asks", max_attempts=3, retry=RetryPolicy(base=1000, jitter=0))
    async def asks() -> None:
        raise Retry(delay=7)

    async with running_worker(app):
        job_id = await asks.enqueue()
        await wait_for(lambda: failures(dsn, job_id, 1), message="the first retry")
        row = await attempt_rows(dsn, job_id)
    assert (row["state"], row["errors"][0]["kind"]) == ("retrying", "retry")
    assert row["delay"] == pytest.approx(7.0, abs=1e-6)


async def test_max_attempts_given_at_enqueue_beats_the_tasks(app: App, dsn: str) -> None:
    @app.task(name="fails", max_attempts=5, retry=constant(0))
    async def fails() -> None:
        raise RuntimeError("always")

    async with running_worker(app):
        job_id = await fails.using(max_attempts=1).enqueue()
        with pytest.raises(JobFailedError, match="ended dead"):
            await app.result(job_id, timeout=15)
    row = await attempt_rows(dsn, job_id)
    assert (row["state"], row["attempts"], len(row["errors"])) == ("dead", 1, 1)


async def test_a_job_out_of_attempts_is_dead_lettered_and_finished(app: App, dsn: str) -> None:
    @app.task(name="broken", max_attempts=2, retry=constant(0))
    async def broken() -> None:
        raise RuntimeError("always")

    async with running_worker(app):
        job_id = await broken.enqueue()
        with pytest.raises(JobFailedError, match="ended dead"):
            await app.result(job_id, timeout=15)
    info = await app.get_job(job_id)
    assert (info.state, info.attempts) == (JobState.DEAD, 2)
    assert info.finished_at is not None
    [letter] = await fetch(dsn, "SELECT id, died_at FROM pgqueue.dead_letters")
    assert letter["id"] == job_id and letter["died_at"] == info.finished_at
