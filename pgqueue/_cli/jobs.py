"""`pgqueue jobs list|show|cancel|retry` and `pgqueue dlq list|show|requeue|purge`."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import click

from pgqueue._cli._common import (
    DURATION,
    EXIT_NOT_FOUND,
    dsn_option,
    fail,
    json_option,
    load_app,
    with_app,
)
from pgqueue._cli._render import cell, echo_json, short, show, table, when
from pgqueue._cli.group import main

if TYPE_CHECKING:
    from pgqueue._admin import DeadLetterFilter
    from pgqueue._client import App
    from pgqueue._job import JobInfo

# pgqueue._job.JobState values, spelt out so that `--help` imports nothing heavy.
STATES = [
    "scheduled",
    "queued",
    "running",
    "retrying",
    "succeeded",
    "dead",
    "cancelled",
    "waiting",
]


def _print_job(info: JobInfo, most: int | None) -> None:
    from pgqueue import _serialization as serialization

    fields: list[tuple[str, Any]] = [
        ("id", info.id),
        ("task", info.task),
        ("queue", info.queue),
        ("state", info.state.value),
        ("priority", info.priority),
        ("attempts", _attempts(info, most)),
        ("unique key", info.unique_key),
        ("args", serialization.dumps(info.args)),
        ("kwargs", serialization.dumps(info.kwargs)),
        ("enqueued at", when(info.enqueued_at)),
        ("run at", when(info.run_at)),
        ("started at", when(info.started_at)),
        ("finished at", when(info.finished_at)),
        ("worker", info.worker_id),
        ("progress", None if info.progress is None else serialization.dumps(info.progress)),
        ("result", None if info.result is None else serialization.dumps(info.result)),
        ("parents", ", ".join(map(str, info.parents)) or None),
        ("children", ", ".join(map(str, info.children)) or None),
    ]
    out = show
    out(table(None, ["FIELD", "VALUE"], [[k, cell(v)] for k, v in fields]))
    for error in info.errors:
        when_at = f" at {error['at']}" if error.get("at") else ""
        click.echo(
            f"\nattempt {error.get('attempt', '?')}{when_at}: "
            f"{error.get('type')}: {error.get('message')}"
        )
        if error.get("traceback"):
            click.echo(user_frames(error["traceback"]).rstrip())


def _attempts(info: JobInfo, most: int | None) -> str:
    """ "2 of 5": the maximum from the row, else the task's as the app given with --app says."""
    if info.max_attempts is not None:
        return f"{info.attempts} of {info.max_attempts}"
    if most is not None:
        return f"{info.attempts} of {most} (the task's default)"
    return (
        f"{info.attempts} of the task's max_attempts, else the App's default_max_attempts "
        "(--app MODULE:APP shows which)"
    )


_FRAME = r'^  File "(?P<file>[^"]+)", line \d+, in .*\n(?:    .*\n)*'


def user_frames(text: str) -> str:
    """The traceback without pgqueue's own frames that come before the task's (the executor
    calling the task): the first frame shown is the user's. Says how many it left out."""
    import re
    from pathlib import Path

    own = {p.stem for p in Path(__file__).parents[1].glob("*.py")}
    out: list[str] = []
    pos = 0
    hidden = 0
    leading = False
    for match in re.finditer(_FRAME, text, re.MULTILINE):
        between = text[pos : match.start()]
        if between:
            if hidden:
                out.append(f"  [{hidden} pgqueue frames hidden]\n")
                hidden = 0
            out.append(between)
            leading = "Traceback (most recent call last):" in between
        path = Path(match.group("file"))
        if leading and path.parent.name == "pgqueue" and path.stem in own:
            hidden += 1
        else:
            if hidden:
                out.append(f"  [{hidden} pgqueue frames hidden]\n")
                hidden = 0
            leading = False
            out.append(match.group(0))
        pos = match.end()
    out.append(text[pos:])
    return "".join(out)


def _show(
    dsn: str | None, job_id: int, as_json: bool, dead_only: bool, app_spec: str | None
) -> None:
    from pgqueue._monitoring import Monitor

    info = with_app(dsn, lambda app: Monitor(app.repository).job(job_id))
    if info is None:
        fail(f"no job with id {job_id}", EXIT_NOT_FOUND)
    if dead_only and info.state.value != "dead":
        fail(f"job {job_id} is not dead-lettered (state: {info.state})", EXIT_NOT_FOUND)
    if as_json:
        echo_json(info)
        return
    most = None
    if app_spec and info.max_attempts is None:
        most = load_app(app_spec).max_attempts_of(info.task)
    _print_job(info, most)


async def _states_of(app: App, ids: list[int]) -> dict[int, str]:
    from pgqueue._monitoring import Monitor

    states = await Monitor(app.repository).job_states(ids)
    return {i: s.value for i, s in states.items()}


def _report(
    verb: str,
    done: list[int],
    asked: list[int],
    states: dict[int, str],
    as_json: bool,
    pending: dict[str, list[int]] | None = None,
) -> None:
    """Print what was done; `pending` lists ids acted on that finish later (e.g. cancelling)."""
    pending = pending or {}
    handled = set(done).union(*pending.values())
    missed = [i for i in asked if i not in handled]
    if as_json:
        echo_json(
            {
                verb: done,
                **pending,
                f"not_{verb}": [{"id": i, "state": states.get(i)} for i in missed],
            }
        )
    else:
        if done:
            click.echo(f"{verb} {len(done)}: {', '.join(map(str, done))}")
        for label, ids in pending.items():
            if ids:
                click.echo(
                    f"{label} {len(ids)}: {', '.join(map(str, ids))} (their workers were told)"
                )
        for i in missed:
            state = states.get(i)
            reason = "no such job" if state is None else f"state is {state}"
            click.echo(f"job {i} not {verb}: {reason}", err=True)
    if missed:
        sys.exit(EXIT_NOT_FOUND)


# -- jobs --------------------------------------------------------------------------------------


@main.group()
def jobs() -> None:
    """Find, inspect, cancel and retry jobs."""


@jobs.command("list")
@dsn_option
@click.option("--queue", "-q", default=None, help="Only jobs of this queue.")
@click.option("--task", "-t", default=None, help="Only jobs of this task.")
@click.option(
    "--state",
    "-s",
    "states",
    multiple=True,
    type=click.Choice(STATES),
    help="Only jobs in this state (repeatable).",
)
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most N jobs."
)
@json_option
def jobs_list(
    dsn: str | None,
    queue: str | None,
    task: str | None,
    states: tuple[str, ...],
    limit: int,
    as_json: bool,
) -> None:
    """Jobs, newest first, filtered by queue, task and state."""
    from pgqueue._monitoring import Monitor

    found = with_app(
        dsn,
        lambda app: Monitor(app.repository).jobs(
            queue=queue, task=task, states=list(states) or None, limit=limit
        ),
    )
    if as_json:
        echo_json(found)
        return
    show(
        table(
            None,
            ["ID", "QUEUE", "TASK", "STATE", "ATTEMPTS", "RUN AT", "FINISHED", "LAST ERROR"],
            [
                [
                    j.id,
                    j.queue,
                    j.task,
                    j.state,
                    j.attempts,
                    j.run_at,
                    j.finished_at,
                    short(j.error_message and f"{j.error_type}: {j.error_message}"),
                ]
                for j in found
            ],
        )
        if found
        else "no jobs match"
    )


APP_OPTION = click.option(
    "--app",
    "app_spec",
    metavar="MODULE:APP",
    envvar="PGQUEUE_APP",
    show_envvar=True,
    help="The App of the job's task: shows the real maximum of attempts when the job has none "
    "of its own.",
)


@jobs.command("show")
@click.argument("job_id", type=int)
@dsn_option
@json_option
@APP_OPTION
def jobs_show(job_id: int, dsn: str | None, as_json: bool, app_spec: str | None) -> None:
    """Everything stored about a job, with every attempt's error.

    Each failed attempt with its error and traceback. Tracebacks start at the task's own code (pgqueue's frames before it are left out).
    Exit code 4 if there is no such job."""
    _show(dsn, job_id, as_json, dead_only=False, app_spec=app_spec)


@jobs.command("cancel")
@click.argument("job_ids", type=int, nargs=-1, required=True)
@dsn_option
@json_option
def jobs_cancel(job_ids: tuple[int, ...], dsn: str | None, as_json: bool) -> None:
    """Cancel jobs (running ones through their workers).

    At once if they have not started (queued, scheduled, waiting to retry); running ones are
    flagged and their workers told, as `pgqueue cancel` does ("cancelling").

    Exit code 4 if some could not be cancelled (unknown or already finished)."""
    asked = list(job_ids)

    async def run(app: App) -> tuple[list[int], list[int], dict[int, str]]:
        from pgqueue._admin import Admin

        done = await Admin(app.repository).cancel(asked)
        states = await _states_of(app, asked)
        running = [i for i in asked if states.get(i) == "running"]
        cancelling = [i for i in running if await app.cancel(i) == "cancelling"]
        return done, cancelling, states

    done, cancelling, states = with_app(dsn, run)
    _report("cancelled", done, asked, states, as_json, pending={"cancelling": cancelling})


@jobs.command("retry")
@click.argument("job_ids", type=int, nargs=-1, required=True)
@dsn_option
@json_option
def jobs_retry(job_ids: tuple[int, ...], dsn: str | None, as_json: bool) -> None:
    """Run dead, cancelled or retrying jobs again now.

    Dead and cancelled ones get fresh attempts. Exit code 4 if some could not be retried."""
    asked = list(job_ids)

    async def run(app: App) -> tuple[list[int], dict[int, str]]:
        from pgqueue._admin import Admin

        done = await Admin(app.repository).retry(asked)
        return done, await _states_of(app, asked)

    done, states = with_app(dsn, run)
    _report("retried", done, asked, states, as_json)


# -- dead letters ------------------------------------------------------------------------------


@main.group()
def dlq() -> None:
    """The dead-letter queue: jobs whose attempts ran out."""


@dlq.command("list")
@dsn_option
@click.option("--queue", "-q", default=None, help="Only dead letters of this queue.")
@click.option("--task", "-t", default=None, help="Only dead letters of this task.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="At most N dead letters.",
)
@json_option
def dlq_list(
    dsn: str | None, queue: str | None, task: str | None, limit: int, as_json: bool
) -> None:
    """Dead letters with their last error, latest first."""
    from pgqueue._monitoring import Monitor

    found = with_app(
        dsn,
        lambda app: Monitor(app.repository).dead_letters(queue=queue, task=task, limit=limit),
    )
    if as_json:
        echo_json(found)
        return
    show(
        table(
            None,
            ["ID", "QUEUE", "TASK", "ATTEMPTS", "DIED", "ERROR"],
            [
                [
                    d.id,
                    d.queue,
                    d.task,
                    d.attempts,
                    d.died_at,
                    short(f"{d.error_type}: {d.error_message}"),
                ]
                for d in found
            ],
        )
        if found
        else "no dead letters"
    )


@dlq.command("show")
@click.argument("job_id", type=int)
@dsn_option
@json_option
@APP_OPTION
def dlq_show(job_id: int, dsn: str | None, as_json: bool, app_spec: str | None) -> None:
    """One dead letter with every attempt's error and traceback.

    Exit code 4 if there is no such job or it is not dead-lettered."""
    _show(dsn, job_id, as_json, dead_only=True, app_spec=app_spec)


def _filter(
    job_ids: tuple[int, ...],
    queue: str | None,
    task: str | None,
    kind: str | None,
    everything: bool,
) -> DeadLetterFilter:
    from pgqueue._admin import DeadLetterFilter

    which = DeadLetterFilter(ids=list(job_ids) or None, queue=queue, task=task, error_kind=kind)
    if which.is_everything and not everything:
        raise click.UsageError("name job ids, --queue, --task or --kind, or pass --all")
    if everything and not which.is_everything:
        raise click.UsageError("--all cannot be combined with ids, --queue, --task or --kind")
    return which


kind_option = click.option(
    "--kind",
    "-k",
    default=None,
    metavar="KIND",
    help="Only dead letters whose last error has this kind (exception, timeout, worker_lost, "
    "payload, unknown_task, ...).",
)


@dlq.command("requeue")
@click.argument("job_ids", type=int, nargs=-1)
@dsn_option
@click.option("--queue", "-q", default=None, help="Requeue the dead letters of this queue.")
@click.option("--task", "-t", default=None, help="Requeue the dead letters of this task.")
@kind_option
@click.option("--all", "everything", is_flag=True, help="Requeue every dead letter.")
@json_option
def dlq_requeue(
    job_ids: tuple[int, ...],
    dsn: str | None,
    queue: str | None,
    task: str | None,
    kind: str | None,
    everything: bool,
    as_json: bool,
) -> None:
    """Put dead letters back in their queue with fresh attempts.

    After a fix: one or more by id, by --queue/--task/--kind, or --all. Exit code 4 if a given
    id was not requeued (each one is named with the reason)."""
    from pgqueue._admin import Admin

    which = _filter(job_ids, queue, task, kind, everything)

    async def run(app: App) -> tuple[int, dict[int, str]]:
        before = await _states_of(app, list(job_ids)) if job_ids else {}
        return await Admin(app.repository).requeue_dead(which), before

    n, states = with_app(dsn, run)
    if as_json:
        echo_json({"requeued": n})
    else:
        click.echo(f"requeued {n} dead letters")
    if job_ids and n < len(set(job_ids)):
        for i in dict.fromkeys(job_ids):  # why each given id that was not dead was left alone
            state = states.get(i)
            if state is None:
                click.echo(f"job {i} not requeued: no such job", err=True)
            elif state != "dead":
                click.echo(f"job {i} not requeued: it is {state}, not dead", err=True)
        sys.exit(EXIT_NOT_FOUND)


@dlq.command("purge")
@click.argument("job_ids", type=int, nargs=-1)
@dsn_option
@click.option("--queue", "-q", default=None, help="Purge the dead letters of this queue.")
@click.option("--task", "-t", default=None, help="Purge the dead letters of this task.")
@kind_option
@click.option(
    "--older-than",
    type=DURATION,
    default=None,
    metavar="DURATION",
    help="Only dead letters that died longer ago than this.",
)
@click.option("--all", "everything", is_flag=True, help="Every dead letter.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
def dlq_purge(
    job_ids: tuple[int, ...],
    dsn: str | None,
    queue: str | None,
    task: str | None,
    kind: str | None,
    older_than: float | None,
    everything: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Delete dead letters for good.

    By id, --queue/--task/--kind/--older-than, or --all. Asks for confirmation unless --yes (declining
    exits 1, "Aborted!")."""
    from pgqueue._admin import Admin, DeadLetterFilter

    if older_than is not None and not job_ids and queue is None and task is None and not kind:
        which = DeadLetterFilter()
    else:
        which = _filter(job_ids, queue, task, kind, everything)

    async def count(app: App) -> tuple[DeadLetterFilter, int]:
        from datetime import timedelta

        admin = Admin(app.repository)
        now = await admin.now()
        before = now - timedelta(seconds=older_than or 0.0)
        scoped = replace(which, died_before=before)
        return scoped, await admin.count_dead(scoped)

    scoped, n = with_app(dsn, count)
    if n and not yes:
        click.confirm(f"Delete {n} dead letters for good?", abort=True, err=True)
    deleted = with_app(dsn, lambda app: Admin(app.repository).purge_dead(scoped)) if n else 0
    if as_json:
        echo_json({"purged": deleted})
    else:
        click.echo(f"purged {deleted} dead letters")
