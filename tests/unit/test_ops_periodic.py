from datetime import UTC, datetime, timedelta

import pytest

from pgqueue._periodic import PeriodicSchedule
from pgqueue.errors import TaskRegistrationError


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def every_5_min(**kw: object) -> PeriodicSchedule:
    return PeriodicSchedule(name="s", task="t", cron="*/5 * * * *", **kw)  # type: ignore[arg-type]


def test_latest_tick_includes_an_exact_tick() -> None:
    s = every_5_min()
    assert s.latest_tick(at("2030-01-01T10:05:00")) == at("2030-01-01T10:05:00")
    assert s.latest_tick(at("2030-01-01T10:04:59.999")) == at("2030-01-01T10:00:00")
    assert s.next_tick(at("2030-01-01T10:05:00")) == at("2030-01-01T10:10:00")


def test_nothing_due_before_the_first_tick() -> None:
    ticks, skipped = every_5_min().due_ticks(at("2030-01-01T10:01:00"), at("2030-01-01T10:04:59"))
    assert (ticks, skipped) == ([], 0)


def test_a_late_tick_within_grace_is_due_once() -> None:
    s = every_5_min()
    ticks, skipped = s.due_ticks(at("2030-01-01T10:01:00"), at("2030-01-01T10:05:40"))
    assert (ticks, skipped) == ([at("2030-01-01T10:05:00")], 0)
    # After it was enqueued (last tick 10:05) nothing more is due in that period.
    assert s.due_ticks(at("2030-01-01T10:05:00"), at("2030-01-01T10:09:59")) == ([], 0)


def test_outage_runs_only_the_latest_missed_ticks() -> None:
    s = every_5_min(catch_up=1)
    # Down from 10:05 to 12:00:30: 10:10 .. 12:00 are due, 12:00 is within grace.
    ticks, skipped = s.due_ticks(at("2030-01-01T10:05:00"), at("2030-01-01T12:00:30"))
    assert ticks == [at("2030-01-01T11:55:00"), at("2030-01-01T12:00:00")]
    assert skipped == 21  # 10:10 .. 11:50


def test_catch_up_zero_drops_every_missed_tick() -> None:
    s = every_5_min(catch_up=0)
    ticks, skipped = s.due_ticks(at("2030-01-01T10:05:00"), at("2030-01-01T10:17:00"))
    assert (ticks, skipped) == ([], 2)


def test_catch_up_three() -> None:
    s = every_5_min(catch_up=3, grace=0)
    ticks, skipped = s.due_ticks(at("2030-01-01T10:00:00"), at("2030-01-01T11:01:00"))
    assert ticks == [
        at("2030-01-01T10:50:00"),
        at("2030-01-01T10:55:00"),
        at("2030-01-01T11:00:00"),
    ]
    assert skipped == 9


def test_seconds_field_comes_first() -> None:
    s = PeriodicSchedule(name="s", task="t", cron="*/10 * * * * *")
    ticks, _ = s.due_ticks(at("2030-01-01T10:00:00"), at("2030-01-01T10:00:35"))
    assert ticks == [at(f"2030-01-01T10:00:{n}0") for n in (1, 2, 3)]


def test_timezone_and_daylight_saving() -> None:
    s = PeriodicSchedule(name="s", task="t", cron="0 9 * * *", timezone="Europe/Paris")
    # 09:00 in Paris is 08:00 UTC in winter and 07:00 UTC in summer.
    assert s.next_tick(at("2030-01-15T00:00:00")) == at("2030-01-15T08:00:00")
    assert s.next_tick(at("2030-07-15T00:00:00")) == at("2030-07-15T07:00:00")
    ticks, _ = s.due_ticks(at("2030-07-14T07:00:00"), at("2030-07-15T07:00:10"))
    assert ticks == [at("2030-07-15T07:00:00")]
    assert ticks[0].utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"cron": "not cron"}, "invalid cron"),
        ({"cron": "* * *"}, "invalid cron"),
        ({"cron": "61 * * * *"}, "invalid cron"),
        ({"cron": "* * * * *", "timezone": "Mars/Olympus"}, "unknown timezone"),
        ({"cron": "* * * * *", "catch_up": -1}, "catch_up"),
        ({"cron": "* * * * *", "name": ""}, "name"),
    ],
)
def test_bad_schedules_are_refused(kw: dict[str, object], match: str) -> None:
    values: dict[str, object] = {"name": "s", "task": "t", **kw}
    with pytest.raises(TaskRegistrationError, match=match):
        PeriodicSchedule(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "cron",
    ["0 0 30 2 *", "0 0 31 4 *", "* * 31 2,4,6,9,11 *", "0 0 0 30 2 *", "*/5 * 30-31 2 *"],
)
def test_a_cron_that_never_fires_is_refused_at_registration(cron: str) -> None:
    # croniter's is_valid() accepts these; they fail only when asked for a tick.
    with pytest.raises(TaskRegistrationError) as caught:
        PeriodicSchedule(name="feb-30", task="t", cron=cron)
    assert str(caught.value) == (
        f"schedule feb-30: cron expression {cron!r} never fires (no tick within 10 years): "
        "check its day and month fields"
    )


@pytest.mark.parametrize("cron", ["0 0 29 2 *", "0 0 31 */2 *", "0 0 30 2 mon", "0 0 1 1 *"])
def test_rare_crons_that_do_fire_are_accepted(cron: str) -> None:
    schedule = PeriodicSchedule(name="rare", task="t", cron=cron)
    tick = schedule.latest_tick(at("2100-03-01T00:00:00"))
    assert schedule.next_tick(tick) > tick


def test_the_malformed_cron_error_names_the_schedule() -> None:
    with pytest.raises(TaskRegistrationError) as caught:
        PeriodicSchedule(name="nightly", task="t", cron="61 * * * *")
    assert str(caught.value).startswith("schedule nightly: invalid cron expression '61 * * * *'")


def test_a_frequent_cron_held_up_runs_a_bounded_few_late_ticks() -> None:
    """Issue 14 item 15: a 2 s cron held up 30 s (its leader killed, the lease taken over) runs
    three late ticks (MAX_LATE_PERIODS periods, inside the 60 s grace) and catch_up=1 more,
    not all fifteen; the rest are skipped with the warning."""
    s = PeriodicSchedule(name="s", task="t", cron="*/2 * * * * *")
    ticks, skipped = s.due_ticks(at("2030-01-01T10:00:00"), at("2030-01-01T10:00:30.5"))
    assert ticks == [at(f"2030-01-01T10:00:{n}") for n in (24, 26, 28, 30)]
    assert skipped == 11  # 10:00:02 .. 10:00:22
    # A tick a pass or two late still runs (well within three periods).
    assert s.due_ticks(at("2030-01-01T10:00:00"), at("2030-01-01T10:00:03.9")) == (
        [at("2030-01-01T10:00:02")],
        0,
    )


def test_a_dead_leader_is_replaced_within_about_13_seconds() -> None:
    """Issue 14 item 15: the lease expires after its ttl and a follower looks every ttl/3."""
    from pgqueue.settings import WorkerSettings

    ttl = WorkerSettings().maintenance_lease_ttl
    assert ttl + ttl / 3 <= 15
