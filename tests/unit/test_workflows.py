"""Workflows as batches (pgqueue/_workflows.py): the positions a chain and a group's callback
write, the ids they return, and the mistakes refused before anything reaches the database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from pgqueue._enqueue import Enqueued, encode_jobs
from pgqueue._job import JobRequest


class Recorder:
    """An Enqueuer that records the batch and hands back ids 101, 102, ..."""

    def __init__(self) -> None:
        self.batches: list[list[JobRequest]] = []

    async def enqueue_requests(
        self, requests: Sequence[JobRequest], *, connection: Any = None
    ) -> list[Enqueued]:
        return self.enqueue_requests_sync(requests, connection=connection)

    def enqueue_requests_sync(
        self, requests: Sequence[JobRequest], *, connection: Any
    ) -> list[Enqueued]:
        self.batches.append(list(requests))
        return [Enqueued(100 + n) for n in range(1, len(requests) + 1)]


def job(name: str) -> JobRequest:
    return JobRequest(task=name, args=[], kwargs={})


def test_a_chain_names_each_jobs_predecessor_by_position() -> None:
    from pgqueue._workflows import chain

    wired = chain(Recorder(), [job("a"), job("b"), job("c")])
    assert [(j.task, j.depends_on_batch) for j in wired.jobs] == [
        ("a", ()),
        ("b", (1,)),
        ("c", (2,)),
    ]
    assert '"depends_on_batch":[2]' in encode_jobs(wired.jobs)


async def test_a_groups_callback_waits_for_every_member_and_comes_last() -> None:
    from pgqueue._workflows import group

    recorder = Recorder()

    wired = group(recorder, [job("m"), job("m"), job("m")]).then(job("cb"))
    assert wired.jobs[-1].depends_on_batch == (1, 2, 3)
    assert [j.depends_on_batch for j in wired.jobs[:-1]] == [(), (), ()]
    assert await wired.enqueue() == [101, 102, 103, 104]
    assert wired.enqueue_sync(connection=object()) == [101, 102, 103, 104]
    assert [len(b) for b in recorder.batches] == [4, 4]  # one batch, one round trip, each time


def test_mistakes_are_refused_before_the_database() -> None:
    from pgqueue._workflows import chain, group

    recorder = Recorder()
    with pytest.raises(ValueError, match="at least one job"):
        chain(recorder, [])
    wired = chain(recorder, [job("a"), job("b")])
    with pytest.raises(ValueError, match="another workflow"):
        group(recorder, wired.jobs)
    with pytest.raises(TypeError, match=r"task\.job"):
        chain(recorder, ["a"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="cannot be combined"):
        chain(recorder, [job("a"), JobRequest(task="b", args=[], kwargs={}, unique_key="k")])
    with pytest.raises(TypeError, match="positive ints"):
        JobRequest(task="a", args=[], kwargs={}, depends_on=(0,))
    with pytest.raises(ValueError, match="on_parent_failure"):
        JobRequest(task="a", args=[], kwargs={}, on_parent_failure="maybe")  # type: ignore[arg-type]
    assert recorder.batches == []
