"""A value the database cannot store is refused before anything is sent, naming its field, its
task and its job in the batch (today's "arguments is not ..." named none)."""

from __future__ import annotations

import pytest

from pgqueue.enqueue import encode_jobs
from pgqueue.errors import SerializationError
from pgqueue.job import JobOptions, JobRequest

OK = JobRequest(task="ok", args=[], kwargs={})


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (JobRequest(task="a\x00b", args=[], kwargs={}), "the task name 'a\\x00b' (job #2) is not storable"),
        (JobRequest(task="t", args=[], kwargs={}, queue="q\x00"), "the queue name of t (job #2) is not storable"),
        (JobRequest(task="t", args=[], kwargs={}, unique_key="k\x00"), "the unique key of t (job #2) is not storable"),
        (JobRequest(task="t", args=[], kwargs={}, delay_seconds=float("nan")), "the delay of t (job #2) is not JSON serializable"),
        (JobRequest(task="t", args=["\x00"], kwargs={}), "positional arguments of t (job #2) is not storable"),
        (JobRequest(task="t", args=[], kwargs={"x": float("inf")}), "keyword arguments of t (job #2) is not JSON serializable"),
    ],
    ids=["task", "queue", "unique-key", "delay", "args", "kwargs"],
)  # fmt: skip
def test_the_field_is_named(bad: JobRequest, message: str) -> None:
    with pytest.raises(SerializationError) as caught:
        encode_jobs([OK, bad])
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize("delay", [float("nan"), float("inf"), float("-inf")])
def test_a_delay_that_is_not_a_finite_number_is_refused_as_an_option(delay: float) -> None:
    with pytest.raises(ValueError, match="delay must be a finite number of seconds"):
        JobOptions(delay=delay)
