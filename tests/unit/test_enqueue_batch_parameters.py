"""Which batches the asyncpg path sends to pgqueue.enqueue_batch (revision 0017_enqueue_batch),
with which arrays, and that a batch with a value only enqueue_many can name goes there."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pgqueue import JobRequest
from pgqueue._enqueue import Enqueued, batch_parameters, new_jobs


def test_one_array_per_column_in_enqueue_batch_order() -> None:
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    batch = [
        JobRequest(
            task="mail.send",
            args=[1, "x"],
            kwargs={"a": None},
            queue="q",
            priority=-3,
            run_at=at,
            max_attempts=2,
            metadata={"traceparent": "t"},
            limit_key="k",
        ),
        JobRequest("t", (), {}, delay_seconds=5),
        JobRequest("t", [], {}, priority=2, delay_seconds=1.5),
    ]
    assert batch_parameters(batch) == (
        ["mail.send", "t", "t"],
        ['[1,"x"]', None, None],
        ['{"a":null}', None, None],
        ["q", "default", "default"],
        [-3, 0, 2],
        [at.isoformat(), None, None],
        [None, 5.0, 1.5],
        [2, None, None],
        ['{"traceparent":"t"}', None, None],
        ["k", None, None],
    )


def test_a_column_every_job_leaves_at_its_default_is_not_sent() -> None:
    plain = [JobRequest("a", [], {}), JobRequest("b", (), {}, metadata={})]
    assert batch_parameters(plain) == (["a", "b"], *[None] * 9)


@pytest.mark.parametrize(
    "odd",
    [
        JobRequest("t", [], {}, unique_key="u"),
        JobRequest("t", [], {}, depends_on=(1,)),
        JobRequest("t", [], {}, depends_on_batch=(1,)),
        JobRequest("t", [], {}, priority=True),  # type: ignore[arg-type]
        JobRequest("t", [], {}, priority=1.0),  # type: ignore[arg-type]
        JobRequest("t", [], {}, priority=2**31),
        JobRequest("t", [], {}, priority=-(2**31) - 1),
        JobRequest("t", [], {}, priority="high"),  # type: ignore[arg-type]
        JobRequest("t", [], {}, max_attempts=2.5),  # type: ignore[arg-type]
        JobRequest("t", [], {}, max_attempts=2**31),
        JobRequest("t", [], {}, delay_seconds=float("nan")),
        JobRequest("t", [], {}, delay_seconds=float("inf")),
        JobRequest("t", [], {}, delay_seconds=True),  # type: ignore[arg-type]
        JobRequest("t", [object()], {}),
        JobRequest("t", [], {"x": float("nan")}),
        JobRequest("t", [], {}, metadata={"x": "\x00"}),
    ],
    ids=[
        "unique-key",
        "parents",
        "batch-parents",
        "bool",
        "float-priority",
        "int32",
        "int32-low",
        "str",
        "float-attempts",
        "int32-attempts",
        "nan",
        "inf",
        "bool-delay",
        "args-not-json",
        "kwargs-nan",
        "metadata-nul",
    ],
)
def test_what_only_enqueue_many_can_name_goes_there(odd: JobRequest) -> None:
    plain = JobRequest("t", [1], {})
    assert batch_parameters([plain, plain]) is not None
    assert batch_parameters([plain, odd]) is None
    assert batch_parameters([odd, plain]) is None


def test_a_value_of_the_wrong_json_type_is_sent_for_the_function_to_refuse() -> None:
    """Not an array, not an object: encoded, so enqueue_batch names it as enqueue_many does."""
    odd = JobRequest("t", {}, [], metadata=None)  # type: ignore[arg-type]
    columns = batch_parameters([odd])
    assert columns is not None
    assert (columns[1], columns[2]) == (["{}"], ["[]"])
    falsy = JobRequest("t", 0, "")  # type: ignore[arg-type]
    columns = batch_parameters([falsy])
    assert columns is not None
    assert (columns[1], columns[2]) == (["0"], ['""'])


def test_an_empty_batch_has_no_parameters() -> None:
    assert batch_parameters([]) is None


def test_new_jobs_are_what_the_constructor_makes() -> None:
    made = new_jobs([3, 1, 2])
    assert made == [Enqueued(3), Enqueued(1), Enqueued(2)]
    assert [hash(e) for e in made] == [hash(Enqueued(i)) for i in (3, 1, 2)]
    assert all(e.duplicate is False for e in made)
    assert repr(made[0]) == "Enqueued(id=3, duplicate=False)"
