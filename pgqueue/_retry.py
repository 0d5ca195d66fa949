"""Retry policies: how long to wait before the next attempt."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

# The longest retry delay an outcome may carry. The database itself stops at about 292,000
# years ("interval out of range"); anything near that is a bug in the task, not a plan.
MAX_RETRY_DELAY = 10 * 365 * 86400.0
MAX_RETRY_DELAY_TEXT = "10 years"


def retry_delay_problem(delay: object) -> str | None:
    """Why `delay` cannot be stored as a retry delay, or None if it can. Negative delays are
    fine: they mean "at once"."""
    is_number = isinstance(delay, int | float) and not isinstance(delay, bool)
    if is_number and delay <= MAX_RETRY_DELAY:  # type: ignore[operator]  # NaN compares False
        return None
    return (
        f"a retry delay must be a number of seconds of at most {MAX_RETRY_DELAY_TEXT} "
        f"({MAX_RETRY_DELAY:.0f}s)"
    )


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
        if not math.isfinite(self.base) or not math.isfinite(self.factor):
            raise ValueError("retry base and factor must be finite numbers")
        if math.isnan(self.max_delay):
            raise ValueError("retry max_delay must be a number (math.inf: no cap of its own)")
        if self.base < 0 or self.max_delay < 0:
            raise ValueError("retry delays must not be negative")
        if self.factor < 1:
            raise ValueError("retry factor must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("retry jitter must be between 0 and 1")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based), never more than
        MAX_RETRY_DELAY (10 years, whatever max_delay says): what the database can store."""
        try:
            growth = self.base * self.factor ** max(0, attempt - 1)
        except OverflowError:  # float ** past 1e308
            growth = math.inf
        raw = min(self.max_delay, growth, MAX_RETRY_DELAY)
        if self.jitter == 0:
            return raw
        r = (rng or random).random()
        return raw * (1 - self.jitter * r)


def constant(seconds: float) -> RetryPolicy:
    """A policy that always waits `seconds` between attempts."""
    return RetryPolicy(base=seconds, factor=1.0, max_delay=seconds, jitter=0.0)


DEFAULT_RETRY = RetryPolicy()
