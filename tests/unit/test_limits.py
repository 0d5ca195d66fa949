"""Flow-control declarations (docs/limits.md): rates and concurrency limits are checked when the
task or queue is declared, with an error that names it; limit_key travels with the job."""

from __future__ import annotations

import pytest

from pgqueue import App, TaskRegistrationError
from pgqueue._limit_values import Limits, Rate, parse_rate


@pytest.mark.parametrize(
    ("text", "count", "seconds", "burst"),
    [
        ("20/s", 20, 1.0, 2),
        ("1/s", 1, 1.0, 1),
        ("100/m", 100, 60.0, 10),
        ("5/h", 5, 3600.0, 1),
        (" 7 / m ", 7, 60.0, 1),
        ("25/s", 25, 1.0, 3),
    ],
)
def test_rates_parse(text: str, count: int, seconds: float, burst: int) -> None:
    rate = parse_rate(text, what="task t")
    assert (rate.count, rate.seconds, rate.burst) == (count, seconds, burst)
    assert str(rate) == f"{count}/{rate.unit}"


@pytest.mark.parametrize(
    "bad", ["20", "20/d", "0/s", "-1/s", "1.5/s", "/s", "20/sec", "", 20, None]
)
def test_a_bad_rate_is_named_with_the_forms_accepted(bad: object) -> None:
    with pytest.raises(ValueError, match=r"task t: rate_limit=.* write N/s, N/m or N/h"):
        parse_rate(bad, what="task t")


def test_the_decorator_refuses_a_bad_limit_at_once() -> None:
    app = App("postgresql://unused")
    with pytest.raises(TaskRegistrationError, match=r"task payments.charge: rate_limit='20/d'"):

        @app.task(name="payments.charge", rate_limit="20/d")
        async def charge() -> None: ...

    for bad in (0, -3, 1.5, True, "3"):
        with pytest.raises(TaskRegistrationError, match=r"concurrency_limit=.* at least 1"):
            app.task(name=f"c{bad!r}", concurrency_limit=bad)(lambda: None)  # type: ignore[arg-type]
    assert len(app.registry) == 0  # nothing half-registered


def test_limits_are_registered_with_the_task() -> None:
    app = App("postgresql://unused")

    @app.task(name="charge", rate_limit="20/s", concurrency_limit=3)
    async def charge() -> None: ...

    @app.task(name="plain")
    async def plain() -> None: ...

    assert charge.config.limits == Limits(Rate(20, "s"), 3)
    assert not plain.config.limits.limited
    [row] = app.registry.limit_rows()
    assert (row.scope, row.name, row.limits.concurrency) == ("task", "charge", 3)
    assert app.registry.unlimited_names() == ["plain"]
    assert charge.config.limits.describe() == "at most 3 at once, 20 a second"


def test_queue_limits() -> None:
    app = App("postgresql://unused")
    app.queue("email", rate_limit="100/m", concurrency_limit=5)
    assert app.queue_limits == {"email": Limits(Rate(100, "m"), 5)}
    app.queue("email")  # no limits: removed when a worker registers
    assert not app.queue_limits["email"].limited
    with pytest.raises(TaskRegistrationError, match="queue email: rate_limit='fast'"):
        app.queue("email", rate_limit="fast")
    with pytest.raises(TaskRegistrationError, match="queue name"):
        app.queue("")


def test_limit_key_goes_with_the_job() -> None:
    app = App("postgresql://unused")

    @app.task(name="charge", concurrency_limit=1)
    async def charge(amount: int) -> None: ...

    job = charge.using(limit_key="tenant-42").job(5)
    assert job.limit_key == "tenant-42"
    assert job.as_json_object()["limit_key"] == "tenant-42"
    assert "limit_key" not in charge.job(5).as_json_object()
    # A later using() keeps the key unless it sets its own.
    assert charge.using(limit_key="a").using(priority=3).job(1).limit_key == "a"
    assert charge.using(limit_key="a").using(limit_key="b").job(1).limit_key == "b"
    assert app.request("charge", [1], limit_key="t").limit_key == "t"


@pytest.mark.parametrize(
    ("key", "message"),
    [("", "limit_key must not be empty"), ("x" * 1001, "limit_key 'x"), ("a\nb", "control")],
)
def test_a_bad_limit_key_is_refused(key: str, message: str) -> None:
    app = App("postgresql://unused")

    @app.task(name="charge")
    async def charge() -> None: ...

    with pytest.raises(ValueError, match=message):
        charge.using(limit_key=key)
