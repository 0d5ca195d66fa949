"""`pgqueue workers` and `pgqueue cancel`."""

from __future__ import annotations

import json
import sys

import click

from pgqueue.cli._common import dsn_option, resolve_or_exit, run_or_exit
from pgqueue.cli.group import main
from pgqueue.client import App
from pgqueue.errors import JobNotFoundError


@main.command()
@dsn_option
@click.option("--json", "as_json", is_flag=True, envvar="PGQUEUE_JSON", help="Print JSON.")
@click.option("--all", "show_all", is_flag=True, help="Include stopped and lost workers.")
def workers(dsn: str | None, as_json: bool, show_all: bool) -> None:
    """List workers: host, pid, queues, heartbeat age, state and counters."""
    app = App(resolve_or_exit(dsn))

    async def fetch() -> list[dict[str, object]]:
        async with app:
            return await app.repository.list_workers(show_all)

    rows = run_or_exit(fetch)
    if as_json:
        click.echo(json.dumps(rows, default=str, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="pgqueue workers")
    for column in (
        "id",
        "host",
        "pid",
        "queues",
        "state",
        "alive",
        "heartbeat age (s)",
        "processed",
        "failed",
        "active",
        "health",
        "started",
    ):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r["id"])[:8],
            str(r["hostname"]),
            str(r["pid"]),
            ",".join(r["queues"]),  # type: ignore[arg-type]
            str(r["state"]),
            "yes" if r["alive"] else "no",
            f"{r['heartbeat_age']:.1f}",
            str(r["processed"]),
            str(r["failed"]),
            str(r["active"]),
            _health(r),
            str(r["started_at"])[:19],
        )
    Console().print(table)


def _health(row: dict[str, object]) -> str:
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
    """Cancel a job: at once if it has not started, through its worker if it is running."""
    app = App(resolve_or_exit(dsn))

    async def send() -> str | None:
        async with app:
            try:
                return await app.cancel(job_id)
            except JobNotFoundError:
                return None

    outcome = run_or_exit(send)
    if outcome is None:
        click.echo(f"error: no job with id {job_id}", err=True)
        sys.exit(1)
    messages = {
        "cancelled": f"job {job_id} cancelled",
        "cancelling": f"job {job_id} is running: its worker was told to cancel it",
    }
    click.echo(messages.get(outcome, f"job {job_id} had already finished: {outcome}"))
