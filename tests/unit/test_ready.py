"""Claim ahead (pgqueue/_ready.py): how many jobs a worker claims, and in which order it starts
the ones it claimed ahead. The worker's side is tests/integration/test_claim_ahead.py."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from pgqueue._job import ClaimedJob
from pgqueue._ready import SHORT_JOB, ReadyJobs


def job(job_id: int, priority: int = 0) -> ClaimedJob:
    return ClaimedJob(
        id=job_id,
        task="t",
        queue="default",
        args="[]",
        kwargs="{}",
        priority=priority,
        attempts=1,
        max_attempts=3,
        enqueued_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_nothing_ahead_until_jobs_are_known_to_be_short() -> None:
    ready = ReadyJobs(concurrency=10, prefetch=40)
    assert ready.claim_size(active=0) == 10  # no run time seen yet: the free slots only
    assert ready.claim_size(active=7) == 3
    ready.ran(SHORT_JOB * 5)
    assert ready.claim_size(active=0) == 10  # long jobs: never ahead
    for _ in range(30):
        ready.ran(0.0001)
    assert ready.ahead == 40
    assert ready.claim_size(active=0) == 50
    assert ready.claim_size(active=10) == 40


def test_jobs_in_hand_wait_for_half_of_the_room() -> None:
    ready = ReadyJobs(concurrency=10, prefetch=40)
    ready.ran(0.0001)
    ready.add([job(i) for i in range(1, 31)])
    # 10 running + 30 in hand: 10 of 50 free, under half: wait for a slot.
    assert ready.claim_size(active=10) == 0
    ready.take(15)
    assert ready.claim_size(active=10) == 25  # 15 in hand: 25 of 50 free, half: claim

    ready.clear()
    assert ready.claim_size(active=10) == 40
    assert ReadyJobs(concurrency=10, prefetch=0).claim_size(active=10) == 0


def test_highest_priority_starts_first_then_oldest() -> None:
    ready = ReadyJobs(concurrency=2, prefetch=8)
    ready.add([job(5), job(3, priority=1), job(4)])
    ready.add([job(2), job(9, priority=2)])
    assert [j.id for j in ready.take(2)] == [9, 3]
    assert 4 in ready and 9 not in ready
    removed = ready.remove(4)
    assert removed is not None and removed.id == 4
    assert ready.remove(4) is None
    assert ready.ids() == [2, 5]
    assert [j.id for j in ready.clear()] == [2, 5] and len(ready) == 0


def test_the_moving_average_follows_a_change_of_run_time() -> None:
    ready = ReadyJobs(concurrency=1, prefetch=4)
    ready.ran(0.001)
    assert ready.ahead == 4
    for _ in range(10):
        ready.ran(SHORT_JOB * 10)  # the jobs got long: stop claiming ahead
    assert ready.ahead == 0


def test_a_job_handed_over_again_replaces_its_older_entry() -> None:
    ready = ReadyJobs(concurrency=1, prefetch=4)
    ready.add([job(1), job(2)])
    ready.add([dataclasses.replace(job(2), attempts=2)])  # rescued, claimed again
    assert ready.ids() == [1, 2]
    assert [j.attempts for j in ready.jobs] == [1, 2]
