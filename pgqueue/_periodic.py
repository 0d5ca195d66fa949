"""Periodic schedules: a cron expression (croniter), a timezone and a catch-up policy, and the
arithmetic of which ticks are due. No database here: the maintenance leader (maintenance.py)
enqueues the ticks this module names, guarded so each one is enqueued exactly once.

Cron has five fields (minute hour day month weekday) or six with *seconds first*
(`*/10 * * * * *` = every ten seconds), the order Quartz, Spring and node-cron use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pgqueue.errors import TaskRegistrationError

if TYPE_CHECKING:
    from croniter import croniter

# croniter (and dateutil under it, ~10 ms) is imported when a cron expression is first read, not
# with this module: every `pgqueue` command imports the App, few read a schedule
# (tests/unit/test_import_cost.py).

DEFAULT_GRACE = 60.0
# A tick counts as late-but-due (always run) for `grace`, but never for more than this many of
# the schedule's own periods: a 2 s cron held up 30 s (a leader taking over) then runs at most
# three late ticks plus `catch_up`, not fifteen at once (docs/periodic.md, issue 14 item 15).
MAX_LATE_PERIODS = 3
# A cron that fires at all fires within 8 years (29 February across a century year that is not
# a leap year); one with no tick in this horizon names a date that does not exist (30 February).
HORIZON_YEARS = 10


def _croniter(cron: str, start: datetime) -> croniter:
    from croniter import croniter

    return croniter(
        cron,
        start,
        second_at_beginning=len(cron.split()) == 6,
        max_years_between_matches=HORIZON_YEARS,
    )


def validate_cron(cron: str, schedule: str | None = None) -> None:
    """Refuse a cron expression that does not parse, or that never fires: croniter accepts
    `0 0 30 2 *` and only fails when asked for a tick."""
    from croniter import CroniterBadDateError, croniter

    prefix = f"schedule {schedule}: " if schedule else ""
    fields_count = len(cron.split())
    if fields_count not in (5, 6) or not croniter.is_valid(
        cron, second_at_beginning=fields_count == 6
    ):
        raise TaskRegistrationError(
            f"{prefix}invalid cron expression {cron!r}: use 5 fields (minute hour day month "
            "weekday) or 6 with seconds first"
        )
    try:
        _croniter(cron, datetime.now(UTC)).get_next(datetime)
    except CroniterBadDateError:
        raise TaskRegistrationError(
            f"{prefix}cron expression {cron!r} never fires (no tick within {HORIZON_YEARS} "
            "years): check its day and month fields"
        ) from None


@dataclass(frozen=True, slots=True)
class PeriodicSchedule:
    """Run `task` at every tick of `cron` in `timezone`.

    A tick is enqueued once however many workers run. Ticks that are late by at most `grace`
    seconds, and at most MAX_LATE_PERIODS of the cron's periods (a worker restart, a slow pass,
    a leader change), are always enqueued; of the ticks missed for longer (an outage), only the
    latest `catch_up` are, so an outage never ends in a burst.
    """

    name: str
    task: str
    cron: str
    timezone: str = "UTC"
    catch_up: int = 1
    grace: float = DEFAULT_GRACE
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str | None = None
    priority: int | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise TaskRegistrationError("a periodic schedule needs a non-empty name")
        validate_cron(self.cron, self.name)
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise TaskRegistrationError(
                f"schedule {self.name}: unknown timezone {self.timezone!r}"
            ) from exc
        if self.catch_up < 0:
            raise TaskRegistrationError(f"schedule {self.name}: catch_up must not be negative")
        if self.grace < 0:
            raise TaskRegistrationError(f"schedule {self.name}: grace must not be negative")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def latest_tick(self, now: datetime) -> datetime:
        """The last tick at or before `now`."""
        local = now.astimezone(self.zone).replace(microsecond=0) + timedelta(seconds=1)
        tick: datetime = _croniter(self.cron, local).get_prev(datetime)
        return tick

    def next_tick(self, after: datetime) -> datetime:
        """The first tick strictly after `after`."""
        tick: datetime = _croniter(self.cron, after.astimezone(self.zone)).get_next(datetime)
        return tick

    def due_ticks(self, after: datetime, now: datetime) -> tuple[list[datetime], int]:
        """The ticks in (after, now] to enqueue, oldest first, and how many were skipped.

        All ticks within `grace` of `now` (at most MAX_LATE_PERIODS periods) are due; of older
        ones only the latest `catch_up`.
        """
        ticks_within_grace: list[datetime] = []
        tick = self.latest_tick(now)
        period = tick - _croniter(self.cron, tick).get_prev(datetime)
        cutoff = now - min(timedelta(seconds=self.grace), MAX_LATE_PERIODS * period)
        it = _croniter(self.cron, tick)
        while tick > after and tick >= cutoff:
            ticks_within_grace.append(tick)
            tick = it.get_prev(datetime)
        missed: list[datetime] = []
        while tick > after and len(missed) < self.catch_up:
            missed.append(tick)
            tick = it.get_prev(datetime)
        skipped = 0
        if tick > after:
            skipped = self._count_between(after, tick)
        due = sorted(missed + ticks_within_grace)
        return [t.astimezone(now.tzinfo) for t in due], skipped

    def _count_between(self, after: datetime, upto: datetime, cap: int = 10_000) -> int:
        """Ticks in (after, upto], counted for the log line (capped: it is only a message)."""
        it = _croniter(self.cron, after.astimezone(self.zone))
        count = 0
        while count < cap and it.get_next(datetime) <= upto:
            count += 1
        return count
