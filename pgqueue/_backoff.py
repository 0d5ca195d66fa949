"""The one backoff of every background loop that retries after an error (the services, the
fetch and flush loops, the listener, the heartbeat thread): exponential with jitter, so workers
that lost the database together do not come back in lockstep."""

from __future__ import annotations

import random


class Backoff:
    """Exponential backoff with jitter, reset on success."""

    def __init__(self, base: float = 0.5, cap: float = 10.0) -> None:
        self.base, self.cap, self.attempt = base, cap, 0

    def next_delay(self) -> float:
        self.attempt += 1
        raw: float = min(self.cap, self.base * 2.0 ** (self.attempt - 1))
        return raw * (0.5 + random.random() / 2)

    def reset(self) -> None:
        self.attempt = 0


def jittered(interval: float, jitter: float) -> float:
    """`interval` spread by ±`jitter` of itself (0.5: between half and one and a half times),
    so the workers of a cluster do not all query at the same moment."""
    if jitter <= 0:
        return interval
    return interval * (1.0 - jitter + 2.0 * jitter * random.random())
