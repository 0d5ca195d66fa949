"""Retry policies: how long to wait before the next attempt."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter: delay = min(max_delay, base * factor**(n-1)), reduced by a
    random fraction of up to `jitter` (default: anywhere from 50% to 100% of it).

    Jitter spreads retries of a burst of failures so they don't hit a recovering
    dependency at the same instant.
    """

    base: float = 1.0
    factor: float = 2.0
    max_delay: float = 3600.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.base < 0 or self.max_delay < 0:
            raise ValueError("retry delays must not be negative")
        if self.factor < 1:
            raise ValueError("retry factor must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("retry jitter must be between 0 and 1")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        raw = min(self.max_delay, self.base * self.factor ** max(0, attempt - 1))
        if self.jitter == 0:
            return raw
        r = (rng or random).random()
        return raw * (1 - self.jitter * r)


def constant(seconds: float) -> RetryPolicy:
    """A policy that always waits `seconds` between attempts."""
    return RetryPolicy(base=seconds, factor=1.0, max_delay=seconds, jitter=0.0)


DEFAULT_RETRY = RetryPolicy()
