"""Flow-control limits as values: a rate ("20/s", "100/m", "5/h") and a concurrency, for a task
or a queue (docs/limits.md). Parsed and checked when the task or queue is declared, so a bad
limit fails at import time with a message that names it; enforced by the database's claim.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_RATE = re.compile(r"^\s*(?P<count>[0-9]+)\s*/\s*(?P<unit>s|m|h)\s*$")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_UNIT_NAMES = {"s": "second", "m": "minute", "h": "hour"}


@dataclass(frozen=True, slots=True)
class Rate:
    """At most `count` starts per `seconds`, on average; bursts of at most `burst` at once."""

    count: int
    unit: str

    @property
    def seconds(self) -> float:
        return _UNIT_SECONDS[self.unit]

    @property
    def burst(self) -> int:
        """How many may start at once after a quiet spell: a tenth of the count, at least one
        (a token bucket of this size, filled at count / seconds a second)."""
        return max(1, math.ceil(self.count / 10))

    def __str__(self) -> str:
        return f"{self.count}/{self.unit}"


def parse_rate(value: object, *, what: str) -> Rate:
    """`"20/s"` -> Rate(20, "s"); ValueError naming `what` and the accepted forms otherwise."""
    match = _RATE.match(value) if isinstance(value, str) else None
    if match is None or int(match["count"]) < 1:
        raise ValueError(
            f"{what}: rate_limit={value!r} is not a rate: write N/s, N/m or N/h with N a whole "
            f"number of at least 1 (for example '20/s' or '100/m')"
        )
    return Rate(int(match["count"]), match["unit"])


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits of one task or queue; both None means "not limited"."""

    rate: Rate | None = None
    concurrency: int | None = None

    @classmethod
    def of(cls, what: str, rate_limit: object, concurrency_limit: object) -> Limits:
        """Limits from the decorator's arguments, checked (ValueError naming `what`)."""
        rate = None if rate_limit is None else parse_rate(rate_limit, what=what)
        if concurrency_limit is not None and (
            isinstance(concurrency_limit, bool)
            or not isinstance(concurrency_limit, int)
            or concurrency_limit < 1
        ):
            raise ValueError(
                f"{what}: concurrency_limit={concurrency_limit!r} must be a whole number of at "
                "least 1 (or None: no limit)"
            )
        return cls(rate, concurrency_limit)

    @property
    def limited(self) -> bool:
        return self.rate is not None or self.concurrency is not None

    def describe(self) -> str:
        parts = []
        if self.concurrency is not None:
            parts.append(f"at most {self.concurrency} at once")
        if self.rate is not None:
            parts.append(f"{self.rate.count} a {_UNIT_NAMES[self.rate.unit]}")
        return ", ".join(parts) or "no limit"


NO_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class LimitRow:
    """One row of pgqueue.limits as the worker registers it."""

    scope: str  # 'task' or 'queue'
    name: str
    limits: Limits
