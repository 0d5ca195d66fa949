"""Operator commands: status (health checks), prune, watch."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from pgqueue._cli._common import (
    DURATION,
    EXIT_JOB_FAILED,
    EXIT_NOT_FOUND,
    EXIT_UNHEALTHY,
    dsn_option,
    json_option,
    with_app,
)
from pgqueue._cli._render import age, cell, console, echo_json, table
from pgqueue._cli.group import main

if TYPE_CHECKING:
    from pgqueue._client import App
    from pgqueue._monitoring import Status
    from pgqueue._progress import FinishedEvent, JobEvent

# The finished states `prune` may delete (pgqueue._job.JobState values).
PRUNABLE = ["succeeded", "cancelled", "dead"]


# -- status ------------------------------------------------------------------------------------


def _unserved_lines(status: Status) -> list[str]:
    by_name = {q.queue: q for q in status.queues}
    return [
        f"queue {name}: {by_name[name].ready} ready jobs and no live worker serves it "
        f"(start one with `pgqueue worker MODULE:APP --queue {name}`)"
        for name in status.unserved
    ] + [task.line() for task in status.unserved_tasks]


def _health_problems(
    status: Status,
    fail_if_lag: float | None,
    fail_if_dead: int | None,
    fail_if_no_workers: bool,
    fail_if_unserved: bool = False,
) -> list[str]:
    problems = []
    if fail_if_lag is not None:
        for q in status.queues:
            if q.lag_seconds > fail_if_lag:
                problems.append(
                    f"queue {q.queue}: lag {q.lag_seconds:.1f}s is over {fail_if_lag:g}s"
                )
    if fail_if_dead is not None and status.dead > fail_if_dead:
        problems.append(f"{status.dead} dead-lettered jobs (more than {fail_if_dead})")
    if fail_if_no_workers and not any(w.alive for w in status.workers or []):
        problems.append("no live workers")
    if fail_if_unserved:
        problems.extend(_unserved_lines(status))
    return problems


def _limits_table(status: Status) -> Any:
    """Per limit and key: running against the concurrency limit, the last minute's starts
    against the rate, the jobs waiting on it (docs/limits.md)."""
    return table(
        "Limits",
        ["SCOPE", "NAME", "KEY", "RUNNING", "CONCURRENCY", "STARTS/1M", "RATE", "WAITING"],
        [
            [
                s.scope,
                s.name,
                s.key or "-",
                s.running,
                "-" if s.concurrency_limit is None else s.concurrency_limit,
                s.started_1m,
                s.rate_limit or "-",
                s.waiting,
            ]
            for s in status.limits
        ],
    )


def _print_status(status: Status) -> None:
    out = console()
    queues = table(
        "Queues",
        [
            "QUEUE",
            "READY",
            "SCHEDULED",
            "RUNNING",
            "RETRYING",
            "WAITING",
            "DEAD",
            "OK/5M",
            "FAILED/5M",
            "LAG",
        ],
        [
            [
                q.queue,
                q.ready,
                q.scheduled,
                q.running,
                q.retrying,
                q.waiting,
                q.dead,
                q.succeeded_5m,
                q.failed_5m,
                age(q.lag_seconds) if q.ready else "-",
            ]
            for q in status.queues
        ],
    )
    out.print(queues if status.queues else "Queues: no jobs")
    for line in _unserved_lines(status):
        out.print(f"unserved: {line}", markup=False, highlight=False)
    if status.limits:
        out.print(_limits_table(status))
    if status.workers is None:
        out.print("Workers: not tracked by this database's schema (pgqueue.workers is missing)")
        return
    workers = table(
        "Workers",
        ["ID", "HOST", "PID", "QUEUES", "STATE", "UP", "BEAT", "DONE", "FAIL", "RUN", "HEALTH"],
        [
            [
                w.id[:8],
                w.hostname,
                w.pid,
                w.queues,
                w.state,
                w.alive,
                age(w.heartbeat_age_seconds),
                w.processed,
                w.failed,
                w.active,
                w.health,
            ]
            for w in status.workers
        ],
    )
    out.print(workers if status.workers else "Workers: none registered")


@main.command()
@dsn_option
@json_option
@click.option("--queue", "-q", "queues", multiple=True, help="Only these queues (repeatable).")
@click.option(
    "--watch",
    "interval",
    type=DURATION,
    default=None,
    metavar="SECONDS",
    help="Refresh every SECONDS until interrupted.",
)
@click.option(
    "--count", type=click.IntRange(min=1), default=None, help="With --watch: stop after N."
)
@click.option(
    "--fail-if-lag",
    type=DURATION,
    default=None,
    metavar="SECONDS",
    help="Exit 3 if a queue's oldest ready job waits longer.",
)
@click.option(
    "--fail-if-dead",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Exit 3 if more than N jobs are dead-lettered.",
)
@click.option("--fail-if-no-workers", is_flag=True, help="Exit 3 if no worker is alive.")
@click.option(
    "--fail-if-unserved",
    is_flag=True,
    help="Exit 3 if a queue has ready jobs and no live worker serves it, or a task has waiting "
    "jobs that no live worker of their queue serves.",
)
def status(
    dsn: str | None,
    as_json: bool,
    queues: tuple[str, ...],
    interval: float | None,
    count: int | None,
    fail_if_lag: float | None,
    fail_if_dead: int | None,
    fail_if_no_workers: bool,
    fail_if_unserved: bool,
) -> None:
    """Queues and workers at a glance, or a health check.

    Per queue: ready, scheduled, running, retrying, waiting (on parents) and dead jobs, outcomes of the last five
    minutes, and the lag of the oldest ready job; a line for each queue with ready jobs that no
    live worker serves, and for each task with waiting jobs that no live worker of its queue
    serves; then the workers. Exit codes: 0 healthy,
    1 error, 3 a --fail-if check failed."""

    async def show(app: App) -> list[str]:
        import asyncio

        from pgqueue._monitoring import Monitor

        monitor = Monitor(app.repository)
        shown = 0
        while True:
            current = await monitor.status(queues or None)
            problems = _health_problems(
                current, fail_if_lag, fail_if_dead, fail_if_no_workers, fail_if_unserved
            )
            if as_json:
                echo_json(
                    {
                        "queues": current.queues,
                        "workers": current.workers,
                        "unserved": current.unserved,
                        "unserved_tasks": current.unserved_tasks,
                        "limits": current.limits,
                        "healthy": not problems,
                        "problems": problems,
                    }
                )
            else:
                if interval is not None and console().is_terminal:
                    console().clear()
                _print_status(current)
            shown += 1
            if interval is None or (count is not None and shown >= count):
                return problems
            await asyncio.sleep(interval)

    try:
        problems = with_app(dsn, show)
    except KeyboardInterrupt:
        return
    if problems:
        for problem in problems:
            click.echo(f"unhealthy: {problem}", err=True)
        sys.exit(EXIT_UNHEALTHY)


# -- prune -------------------------------------------------------------------------------------


@main.command()
@dsn_option
@click.option(
    "--older-than",
    "older_than",
    type=DURATION,
    required=True,
    metavar="DURATION",
    help="Delete jobs that finished longer ago than this (e.g. 7d, 12h, 3600).",
)
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(PRUNABLE),
    help="Finished states to delete (repeatable). Default: succeeded and cancelled; dead "
    "letters only when named.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Rows deleted per transaction.",
)
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@json_option
def prune(
    dsn: str | None,
    older_than: float,
    states: tuple[str, ...],
    batch_size: int,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Delete jobs that finished more than DURATION ago.

    In batches of short transactions; dead letters only when --state dead is named."""
    from pgqueue._admin import Admin

    chosen = list(states) or ["succeeded", "cancelled"]

    async def run(app: App) -> dict[str, int]:
        admin = Admin(app.repository)
        done: dict[str, int] = {}
        for state in chosen:
            if dry_run:
                done[state] = await admin.count_prunable(state, older_than)
            else:
                done[state] = await admin.prune(state, older_than, batch_size=batch_size)
        return done

    counts = with_app(dsn, run)
    if as_json:
        echo_json({"deleted": counts, "older_than_seconds": older_than, "dry_run": dry_run})
        return
    from pgqueue._durations import format_duration

    verb = "would delete" if dry_run else "deleted"
    parts = ", ".join(f"{n} {state}" for state, n in counts.items())
    click.echo(f"{verb} {parts} jobs finished more than {format_duration(older_than)} ago")


# -- watch -------------------------------------------------------------------------------------


def _event_json(event: JobEvent) -> dict[str, Any]:
    from pgqueue._progress import ProgressEvent

    if isinstance(event, ProgressEvent):
        return {
            "event": "progress",
            "job_id": event.job_id,
            "seq": event.seq,
            "value": event.value,
            "message": event.message,
            "at": event.at,
        }
    return {
        "event": "finished",
        "job_id": event.job_id,
        "state": event.state.value,
        "result": event.result,
        "error": event.error,
    }


def _event_line(event: JobEvent) -> str:
    from pgqueue._progress import ProgressEvent

    if isinstance(event, ProgressEvent):
        value = "-" if event.value is None else f"{event.value:g}"
        message = f" {event.message}" if event.message else ""
        return f"job {event.job_id} progress #{event.seq}: {value}{message}"
    if event.state.value == "succeeded":
        return f"job {event.job_id} succeeded: {cell(event.result)}"
    error = event.error or {}
    return (
        f"job {event.job_id} {event.state.value}: "
        f"{error.get('type', 'unknown')}: {error.get('message', '')}"
    )


@main.command()
@click.argument("job_id", type=int)
@dsn_option
@json_option
@click.option(
    "--poll-interval",
    type=DURATION,
    default=5.0,
    show_default=True,
    help="Look at the job this often even without notifications.",
)
def watch(job_id: int, dsn: str | None, as_json: bool, poll_interval: float) -> None:
    """Print a job's progress live, then its outcome.

    Exit codes: 0 succeeded, 4 no such job, 5 dead-lettered or cancelled."""

    async def follow(app: App) -> FinishedEvent | None:
        from pgqueue._progress import FinishedEvent
        from pgqueue.errors import JobNotFoundError

        try:
            async for event in app.watch(job_id, poll_interval=poll_interval):
                if as_json:
                    echo_json(_event_json(event))
                else:
                    click.echo(_event_line(event))
                if isinstance(event, FinishedEvent):
                    return event
        except JobNotFoundError as exc:
            click.echo(f"error: {exc}", err=True)
            return None
        return None

    try:
        final = with_app(dsn, follow)
    except KeyboardInterrupt:
        return
    if final is None:
        sys.exit(EXIT_NOT_FOUND)
    if final.state.value != "succeeded":
        sys.exit(EXIT_JOB_FAILED)
