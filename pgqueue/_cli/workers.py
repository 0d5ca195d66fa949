"""`pgqueue workers` and `pgqueue cancel`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from pgqueue._cli._common import EXIT_NOT_FOUND, dsn_option, fail, with_app
from pgqueue._cli._render import age, console, show, table
from pgqueue._cli.group import main

UPTIME_WIDTH = 100  # the terminal width from which `pgqueue workers` shows UPTIME

if TYPE_CHECKING:
    from pgqueue._client import App
    from pgqueue._job import JobState


@main.command()
@dsn_option
@click.option("--json", "as_json", is_flag=True, envvar="PGQUEUE_JSON", help="Print JSON.")
@click.option("--all", "show_all", is_flag=True, help="Include stopped and lost workers.")
def workers(dsn: str | None, as_json: bool, show_all: bool) -> None:
    """List workers: host, queues, state, uptime, jobs done.

    Columns: UP yes when the worker beats within its ttl, UPTIME since it started (until it
    stopped; at 100 columns or more), BEAT the age of its last heartbeat, DONE and FAIL jobs it finished, RUN jobs it runs
    now (as of its last heartbeat, at most a second old while they change); HEALTH only when
    one is unwell."""
    from pgqueue._monitoring import Monitor

    rows = with_app(dsn, lambda app: Monitor(app.repository).worker_list(include_stopped=show_all))
    if as_json:
        import json

        click.echo(json.dumps(rows, default=str, indent=2))
        return
    if not rows:
        show("no workers" if show_all else "no running workers (--all lists stopped ones)")
        return
    health = [_health(r) for r in rows]
    unwell = any(h != "ok" for h in health)
    # UPTIME only where it fits: at 80 columns the table stays readable without it (item 4).
    uptime = console().width >= UPTIME_WIDTH
    columns = [
        *["ID", "HOST", "PID", "QUEUES", "STATE", "UP", *(["UPTIME"] if uptime else [])],
        *["BEAT", "DONE", "FAIL", "RUN"],
    ]
    show(
        table(
            None,
            [*columns, "HEALTH"] if unwell else columns,
            [
                [
                    str(r["id"])[:8],
                    r["hostname"],
                    r["pid"],
                    r["queues"],
                    r["state"],
                    r["alive"],
                    *([age(r["uptime_seconds"])] if uptime else []),
                    age(r["heartbeat_age"]),
                    r["processed"],
                    r["failed"],
                    r["active"],
                    *([h] if unwell else []),
                ]
                for r, h in zip(rows, health, strict=True)
            ],
        )
    )


def _health(row: dict[str, Any]) -> str:
    problems = []
    if not row["claiming"]:
        problems.append(f"not claiming: {row['abandoned_threads']} abandoned sync threads")
    if row["loop_stall_seconds"]:
        problems.append(f"event loop blocked {row['loop_stall_seconds']:.0f}s")
    return "; ".join(problems) or "ok"


@main.command()
@click.argument("job_id", type=int)
@dsn_option
def cancel(job_id: int, dsn: str | None) -> None:
    """Cancel a job (a running one through its worker).

    Exit code 4 if there is no such job."""

    async def send(app: App) -> tuple[JobState, str] | None:
        from pgqueue.errors import JobNotFoundError

        try:
            before = (await app.get_job(job_id)).state
            return before, await app.cancel(job_id)
        except JobNotFoundError:
            return None

    done = with_app(dsn, send)
    if done is None:
        fail(f"no job with id {job_id}", EXIT_NOT_FOUND)
    before, outcome = done
    if outcome == "cancelled" and before.value == "cancelled":
        click.echo(f"job {job_id} was already cancelled: nothing to do")
    elif outcome == "cancelled":
        click.echo(f"job {job_id} cancelled")
    elif outcome == "cancelling":
        click.echo(f"job {job_id} is running: its worker was told to cancel it")
    else:
        click.echo(f"job {job_id} had already finished: {outcome}")
