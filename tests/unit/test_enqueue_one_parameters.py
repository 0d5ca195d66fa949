"""Which single jobs the asyncpg path sends to pgqueue.enqueue_one (revision 0015), with which
parameters, and that a value that cannot be stored fails as it does through enqueue_many."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pgqueue import JobRequest, SerializationError
from pgqueue._enqueue import encode_jobs, one_job_parameters


def test_the_parameters_in_enqueue_one_order() -> None:
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    request = JobRequest(
        task="mail.send",
        args=[1, "x"],
        kwargs={"a": None},
        queue="q",
        priority=-3,
        run_at=at,
        max_attempts=2,
        unique_key="u",
        metadata={"traceparent": "t"},
        limit_key="k",
    )
    assert one_job_parameters(request) == (
        "mail.send",
        '[1,"x"]',
        '{"a":null}',
        "q",
        -3,
        at.isoformat(),
        None,
        2,
        "u",
        '{"traceparent":"t"}',
        "k",
    )
    plain = one_job_parameters(JobRequest("t", [], {}, delay_seconds=5))
    assert plain == ("t", "[]", "{}", "default", 0, None, 5.0, None, None, None, None)


@pytest.mark.parametrize(
    "request_",
    [
        JobRequest("t", [], {}, depends_on=(1,)),
        JobRequest("t", [], {}, depends_on_batch=(1,)),
        JobRequest("t", [], {}, priority=True),  # type: ignore[arg-type]
        JobRequest("t", [], {}, priority=2**31),
        JobRequest("t", [], {}, priority="high"),  # type: ignore[arg-type]
        JobRequest("t", [], {}, max_attempts=2.5),  # type: ignore[arg-type]
        JobRequest("t", [], {}, delay_seconds=float("nan")),
        JobRequest("t", [], {}, delay_seconds=True),  # type: ignore[arg-type]
    ],
    ids=["parents", "batch-parents", "bool", "int32", "str", "float-attempts", "nan", "bool-delay"],
)
def test_what_only_enqueue_many_can_name_goes_there(request_: JobRequest) -> None:
    assert one_job_parameters(request_) is None


@pytest.mark.parametrize("field", ["args", "kwargs", "metadata"])
def test_a_value_that_cannot_be_stored_names_its_field_as_enqueue_many_does(field: str) -> None:
    values = {"args": [], "kwargs": {}, "metadata": None} | {
        field: {"x": object()} if field != "args" else [object()]
    }
    request = JobRequest("mail.send", values["args"], values["kwargs"], metadata=values["metadata"])
    with pytest.raises(SerializationError) as single:
        one_job_parameters(request)
    with pytest.raises(SerializationError) as batch:
        encode_jobs([request])
    assert str(single.value) == str(batch.value)
    assert "(job #1)" in str(single.value)
