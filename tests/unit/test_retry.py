"""Retry policies: exponential growth, the cap, and jitter that stays within its bounds."""

from __future__ import annotations

import random

import pytest

from pgqueue._retry import DEFAULT_RETRY, RetryPolicy, constant


def test_without_jitter_the_delay_doubles_per_attempt() -> None:
    policy = RetryPolicy(base=1.0, factor=2.0, max_delay=3600.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 8)] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]


def test_other_base_and_factor() -> None:
    policy = RetryPolicy(base=0.5, factor=3.0, max_delay=1000.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 5)] == [0.5, 1.5, 4.5, 13.5]


def test_delay_is_capped_at_max_delay() -> None:
    policy = RetryPolicy(base=1.0, factor=2.0, max_delay=10.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    # Far beyond the cap the exponent must not overflow or escape the cap.
    assert policy.delay(1000) == 10.0


def test_attempt_zero_or_below_uses_the_base() -> None:
    policy = RetryPolicy(base=3.0, jitter=0.0)
    assert policy.delay(0) == 3.0
    assert policy.delay(-5) == 3.0


@pytest.mark.parametrize("jitter", [0.1, 0.5, 1.0])
def test_jitter_stays_within_its_bounds_and_actually_varies(jitter: float) -> None:
    policy = RetryPolicy(base=1.0, factor=2.0, max_delay=100.0, jitter=jitter)
    rng = random.Random(1234)
    for attempt in range(1, 12):
        raw = min(100.0, 2.0 ** (attempt - 1))
        delays = [policy.delay(attempt, rng) for _ in range(500)]
        assert all(raw * (1 - jitter) <= d <= raw for d in delays), (attempt, raw)
        # Spread over most of the allowed band, not a constant.
        assert max(delays) - min(delays) > 0.8 * jitter * raw


def test_jitter_extremes_with_a_deterministic_rng() -> None:
    class Fixed(random.Random):
        def __init__(self, value: float) -> None:
            super().__init__(0)
            self.value = value

        def random(self) -> float:
            return self.value

    policy = RetryPolicy(base=2.0, factor=2.0, max_delay=100.0, jitter=0.5)
    assert policy.delay(3, Fixed(0.0)) == 8.0
    assert policy.delay(3, Fixed(0.5)) == 6.0
    assert policy.delay(3, Fixed(0.999)) == pytest.approx(4.004)


def test_default_policy_never_shrinks_from_one_attempt_to_the_next() -> None:
    # With factor 2 and jitter 0.5 the lowest delay of attempt n+1 equals the highest of n.
    for seed in range(20):
        rng = random.Random(seed)
        delays = [DEFAULT_RETRY.delay(n, rng) for n in range(1, 14)]
        assert delays == sorted(delays)
        assert 0.5 <= delays[0] <= 1.0
    assert all(DEFAULT_RETRY.delay(n) <= DEFAULT_RETRY.max_delay for n in range(1, 100))


def test_constant_policy() -> None:
    policy = constant(5.0)
    assert {policy.delay(n) for n in range(1, 20)} == {5.0}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base": -1.0}, "must not be negative"),
        ({"max_delay": -1.0}, "must not be negative"),
        ({"factor": 0.5}, "factor must be at least 1"),
        ({"jitter": 1.5}, "jitter must be between 0 and 1"),
        ({"jitter": -0.1}, "jitter must be between 0 and 1"),
    ],
)
def test_invalid_policies_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)
