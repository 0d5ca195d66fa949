"""Outcomes stay storable whatever a task returns or raises (issue 8, item 1): retry delays the
database can represent, results under max_result_bytes, error texts and tracebacks bounded."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from pgqueue import App
from pgqueue import _serialization as serialization
from pgqueue._executor import JobControl, JobRunner
from pgqueue._job import ClaimedJob
from pgqueue._outcome import MAX_ERROR_MESSAGE, MAX_TRACEBACK, bounded, error_info
from pgqueue._retry import MAX_RETRY_DELAY, RetryPolicy, retry_delay_problem
from pgqueue.errors import ConfigurationError, SerializationError
from pgqueue.settings import WorkerSettings


@pytest.mark.parametrize("delay", [0, -5, -math.inf, 1.5, 3600, MAX_RETRY_DELAY])
def test_storable_retry_delays(delay: float) -> None:
    assert retry_delay_problem(delay) is None


@pytest.mark.parametrize("delay", [math.inf, math.nan, 9.3e12, MAX_RETRY_DELAY + 1, 10**30, "30"])
def test_unstorable_retry_delays_are_named(delay: object) -> None:
    problem = retry_delay_problem(delay)
    assert problem is not None and "10 years" in problem


def test_a_retry_policy_never_exceeds_what_the_database_stores() -> None:
    grows = RetryPolicy(base=1.0, factor=10.0, max_delay=math.inf, jitter=0.0)
    assert grows.delay(3) == 100.0
    assert grows.delay(400) == MAX_RETRY_DELAY  # 10**399 overflows a float: capped, not raised
    assert RetryPolicy(base=2.0, jitter=0.0).delay(5000) == 3600.0


@pytest.mark.parametrize(
    "options",
    [{"base": math.inf}, {"base": math.nan}, {"factor": math.inf}, {"max_delay": math.nan}],
)
def test_a_retry_policy_refuses_numbers_that_are_not_delays(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="retry"):
        RetryPolicy(**options)


def test_a_result_over_the_limit_is_refused_by_its_encoded_length() -> None:
    assert serialization.dumps("é" * 10, max_bytes=22) == '"' + "é" * 10 + '"'  # 22 bytes
    with pytest.raises(
        SerializationError, match=r"is 24 bytes of JSON, more than max_result_bytes"
    ):
        serialization.dumps("é" * 11, what="result", max_bytes=22, limit="max_result_bytes")


def test_error_texts_and_tracebacks_are_bounded() -> None:
    def deep(n: int) -> None:
        if n:
            deep(n - 1)
        raise ValueError("\x00" + "m" * 100_000)

    with pytest.raises(ValueError) as caught:
        deep(300)
    info = error_info("exception", 1, caught.value)
    assert len(info["message"]) <= MAX_ERROR_MESSAGE
    assert info["message"].startswith("\\x00mmm") and info["message"].endswith("mmm")
    assert "characters cut" in info["message"]
    assert len(info["traceback"]) <= MAX_TRACEBACK
    assert info["traceback"].startswith("Traceback") and info["traceback"].rstrip().endswith("mmm")
    assert error_info("payload", 1, message="x" * 10_000)["message"].startswith("xxx")
    assert len(error_info("payload", 1, message="x" * 10_000)["message"]) <= MAX_ERROR_MESSAGE


def test_bounded_keeps_short_text_and_cuts_long_text_to_the_limit() -> None:
    assert bounded("short", 10) == "short"
    cut = bounded("a" * 500 + "b" * 500, 100)
    assert len(cut) <= 100 and cut.startswith("aaa") and cut.endswith("bbb")
    assert "characters cut" in cut


@pytest.mark.parametrize(
    "field", [{"max_result_bytes": 0}, {"max_abandoned_threads": 0}, {"loop_stall_limit": 0.0}]
)
def test_reliability_settings_are_validated(field: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError, match=next(iter(field))):
        WorkerSettings(**field)  # type: ignore[arg-type]


def test_reliability_settings_come_from_the_environment() -> None:
    settings = WorkerSettings.from_env(
        {
            "PGQUEUE_MAX_RESULT_BYTES": "2048",
            "PGQUEUE_MAX_ABANDONED_THREADS": "3",
            "PGQUEUE_LOOP_STALL_LIMIT": "2m",
        }
    )
    assert (
        settings.max_result_bytes,
        settings.max_abandoned_threads,
        settings.loop_stall_limit,
    ) == (2048, 3, 120.0)


@pytest.mark.parametrize(("limit", "name"), [(None, "succeeded"), (4, "succeeded"), (3, "dead")])
async def test_a_none_result_is_null_and_still_held_to_the_limit(
    limit: int | None, name: str
) -> None:
    app = App("postgresql://nobody@127.0.0.1:1/none")

    @app.task(name="returns_none")
    async def returns_none() -> None:
        return None

    runner = JobRunner(
        app.registry, thread_pool=None, default_max_attempts=1, max_result_bytes=limit
    )
    now = datetime.now(UTC)
    job = ClaimedJob(1, "returns_none", "default", "[]", "{}", 0, 1, None, now)
    transition = await runner.run(job, JobControl())
    assert transition.name.value == name
    if name == "succeeded":
        assert transition.result_json == "null" and transition.error is None
    else:
        assert transition.error is not None and transition.error["kind"] == "result"
        assert "4 bytes of JSON, more than max_result_bytes (3)" in transition.error["message"]
