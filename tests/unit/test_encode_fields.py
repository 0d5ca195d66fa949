"""A value the database cannot store is refused before anything is sent, naming its field, its
task and its job in the batch (today's "arguments is not ..." named none)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pgqueue._enqueue import encode_jobs
from pgqueue._job import JobOptions, JobRequest
from pgqueue.errors import SerializationError

OK = JobRequest(task="ok", args=[], kwargs={})


def refusal(**fields: Any) -> str:
    """Why a job with these fields, second in a batch, is refused before anything is sent. (The
    name checks of pgqueue._names refuse a NUL in a name when the request is built, ValueError;
    without them encode_jobs refuses it; either way the field is named.)"""
    try:
        encode_jobs([OK, JobRequest(**{"task": "t", "args": [], "kwargs": {}, **fields})])
    except (SerializationError, ValueError) as exc:
        return str(exc)
    raise AssertionError(f"{fields} was accepted")


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"task": "a\x00b"}, r"^the task name 'a\\x00b' \(job #2\) is not storable|^task name 'a\\x00b'"),
        ({"queue": "q\x00"}, r"^the queue name of t \(job #2\) is not storable|^queue name 'q\\x00'"),
        ({"unique_key": "k\x00"}, r"^the unique key of t \(job #2\) is not storable|^unique_key 'k\\x00'"),
    ],
    ids=["task", "queue", "unique-key"],
)  # fmt: skip
def test_a_nul_in_a_name_is_refused_naming_the_field(fields: dict[str, Any], named: str) -> None:
    assert re.search(named, refusal(**fields)), refusal(**fields)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"delay_seconds": float("nan")}, "the delay of t (job #2) is not JSON serializable"),
        ({"args": ["\x00"]}, "positional arguments of t (job #2) is not storable"),
        ({"kwargs": {"x": float("inf")}}, "keyword arguments of t (job #2) is not JSON serializable"),
    ],
    ids=["delay", "args", "kwargs"],
)  # fmt: skip
def test_the_field_is_named(fields: dict[str, Any], message: str) -> None:
    assert refusal(**fields).startswith(message)


@pytest.mark.parametrize("delay", [float("nan"), float("inf"), float("-inf")])
def test_a_delay_that_is_not_a_finite_number_is_refused_as_an_option(delay: float) -> None:
    with pytest.raises(ValueError, match="delay must be a finite number of seconds"):
        JobOptions(delay=delay)
