"""`pgqueue periodic list`: the periodic schedules workers registered, with their next run."""

from __future__ import annotations

from pgqueue._cli._common import dsn_option, json_option, with_app
from pgqueue._cli._render import echo_json, show, table
from pgqueue._cli.group import main


@main.group()
def periodic() -> None:
    """Periodic (cron) tasks."""


@periodic.command("list")
@dsn_option
@json_option
def periodic_list(dsn: str | None, as_json: bool) -> None:
    """Every schedule the workers registered, with its next run.

    Name, task, cron, timezone, last tick and next run of each."""
    from pgqueue._monitoring import Monitor

    rows = with_app(dsn, lambda app: Monitor(app.repository).schedules())
    if as_json:
        echo_json(rows)
        return
    show(
        table(
            None,
            ["NAME", "TASK", "CRON", "TIMEZONE", "LAST TICK", "NEXT RUN"],
            [[s.name, s.task, s.cron, s.timezone, s.last_tick, s.next_run] for s in rows],
        )
        if rows
        else "no periodic schedules registered (workers register them when they start)"
    )
