"""ClaimCursor (pgqueue/_claim_cursor.py): when the plain claim is bounded, which keys it starts
after, and when the full claim comes back; driven by a ManualClock, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pgqueue._claim_cursor import ClaimCursor
from pgqueue._clock import ManualClock
from pgqueue._job import ClaimedJob, ClaimKey

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def job(id: int, priority: int = 0, seconds: float = 0.0, queue: str = "default") -> ClaimedJob:
    return ClaimedJob(
        id=id,
        task="t",
        queue=queue,
        args="[]",
        kwargs="{}",
        priority=priority,
        attempts=1,
        max_attempts=3,
        enqueued_at=T0,
        run_at=T0 + timedelta(seconds=seconds),
    )


def test_fast_full_claims_are_never_bounded_but_keys_are_kept() -> None:
    cursor = ClaimCursor(ManualClock())
    cursor.claimed([job(1), job(2)], 0.001, bounded=False)
    assert cursor.bound() is None
    assert cursor.keys == {"default": ClaimKey(0, T0, 2)}


def test_each_queue_keeps_the_last_of_its_jobs_in_claim_order_whatever_the_row_order() -> None:
    cursor = ClaimCursor(ManualClock())
    rows = [job(5, 0, 1.0), job(3, 2, 9.0), job(4, 0, 1.0), job(7, 1, 0.0, "other")]
    cursor.claimed(rows, 0.0, bounded=False)
    assert cursor.keys == {
        "default": ClaimKey(0, T0 + timedelta(seconds=1), 5),
        "other": ClaimKey(1, T0, 7),
    }
    # A limited job (no run_at) leaves the key alone.
    cursor.claimed([ClaimedJob(9, "t", "default", "[]", "{}", 9, 1, 3, T0)], 0.0, bounded=False)
    assert cursor.keys["default"].id == 5


def test_a_slow_full_claim_bounds_the_claims_until_the_interval_ends() -> None:
    clock = ManualClock()
    cursor = ClaimCursor(clock, slow_after=0.010, full_every=1.0, cost_factor=20.0)
    cursor.claimed([job(1)], 0.010, bounded=False)
    assert cursor.bound() == {"default": ClaimKey(0, T0, 1)}
    cursor.claimed([job(2)], 0.0001, bounded=True)  # bounded claims move the key only
    clock.advance(0.999)
    assert cursor.bound() == {"default": ClaimKey(0, T0, 2)}
    clock.advance(0.001)
    assert cursor.bound() is None  # the full claim is due
    # A full claim of 0.2 s: the next one in 20 x 0.2 = 4 s, not 1 s.
    cursor.claimed([], 0.2, bounded=False)
    clock.advance(3.99)
    assert cursor.bound() is not None
    clock.advance(0.01)
    assert cursor.bound() is None
    cursor.claimed([], 0.009, bounded=False)  # fast again: full claims from now on
    assert not cursor.bounded
    assert cursor.bound() is None


def test_expire_makes_the_next_claim_full() -> None:
    clock = ManualClock()
    cursor = ClaimCursor(clock)
    cursor.expire()  # not bounded: nothing to do
    assert not cursor.bounded
    cursor.claimed([job(1)], 1.0, bounded=False)
    assert cursor.bound() is not None
    cursor.expire()
    assert cursor.bound() is None


def test_a_claim_timed_across_a_stalled_loop_brings_the_full_claim_back_within_5_s() -> None:
    """A sync job blocking the loop for 6 s makes the claim beside it look 6 s long: the full
    claim (which takes jobs behind the cursor, a rescued one say) still comes within 5 s, not
    20 x 6 s later (tests/integration/test_loop_stall.py saw that)."""
    clock = ManualClock()
    cursor = ClaimCursor(clock)
    cursor.claimed([job(1)], 6.0, bounded=False)
    assert cursor.bound() == {"default": ClaimKey(0, T0, 1)}
    clock.advance(4.9)
    assert cursor.bound() is not None
    clock.advance(0.2)
    assert cursor.bound() is None
