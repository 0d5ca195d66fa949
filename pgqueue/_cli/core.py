"""Core commands: migrate, worker, enqueue."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from pgqueue._cli._common import (
    EXIT_CONFIG,
    LOG_LEVEL_HELP,
    LOG_LEVELS,
    Duration,
    configure_logging,
    dsn_option,
    errors_exit,
    fail,
    load_app,
    load_modules,
    log_tasks,
    open_app,
    option,
    report_tasks,
    run_or_exit,
    with_app,
)
from pgqueue._cli._ops_options import apply_ops_options, ops_worker_options
from pgqueue._cli.group import main

if TYPE_CHECKING:
    from pgqueue._client import App


@main.command()
@dsn_option
@option(
    "--sql",
    "sql_only",
    is_flag=True,
    help="Print the DDL instead of running it (for a DBA).",
)
@option(
    "--revision",
    default="head",
    show_default=True,
    help="Target revision.",
)
def migrate(dsn: str | None, sql_only: bool, revision: str) -> None:
    """Create or upgrade pgqueue's schema.

    Runs the Alembic revisions (schema `pgqueue`) and prints the ones it applied, or that there
    was nothing to do."""
    from pgqueue import migrate as migrations

    if sql_only:
        click.echo(migrations.upgrade_sql(revision))
        return
    run_migrations(open_app(dsn).dsn, revision)


def run_migrations(dsn: str | None, revision: str) -> None:
    """Upgrade to `revision`, then say what was applied (or that nothing was)."""
    from alembic.util.exc import CommandError

    from pgqueue import migrate as migrations
    from pgqueue._monitoring import Monitor

    # Connecting first gives a clear error for a bad host/password/database (not Alembic's
    # traceback), and the revision the database is at before.
    before = with_app(dsn, lambda app: Monitor(app.repository).schema_revision())
    try:
        with errors_exit():  # e.g. a role without CREATE on the database: exit 1
            migrations.upgrade(dsn, revision)
    except CommandError as exc:  # e.g. an unknown --revision
        fail(str(exc), EXIT_CONFIG, exc)
    applied = migrations.revisions_between(before, revision)
    at = "head" if revision == "head" else revision
    if not applied:
        click.echo(f"nothing to apply: pgqueue schema is at {at} ({before})")
    else:
        span = applied[0] if len(applied) == 1 else f"{applied[0]} .. {applied[-1]}"
        plural = "revision" if len(applied) == 1 else "revisions"
        click.echo(f"applied {len(applied)} {plural} ({span}): pgqueue schema is at {at}")


@main.command()
@click.argument("app_spec", metavar="MODULE:APP", envvar="PGQUEUE_APP")
@dsn_option
@option(
    "--queue",
    "-q",
    "queues",
    multiple=True,
    help="Queue to serve (repeatable). Default: default.",
)
@option(
    "--concurrency",
    "-c",
    type=click.IntRange(min=1),
    help="Jobs run at once. Default: 50.",  # WorkerSettings.concurrency (a test checks)
)
@option(
    "--poll-interval",
    type=Duration(0.01),
    help="How long to wait between polls when no NOTIFY arrives. Default: 2s.",
)
@option(
    "--no-listen",
    is_flag=True,
    help="Poll only, without LISTEN (behind PgBouncer in transaction mode, set "
    "PGQUEUE_POOLER=transaction, which implies this: docs/pgbouncer.md).",
)
@option(
    "--burst",
    is_flag=True,
    help="Run until no runnable job is left and every outcome is written, then exit 0.",
)
@option(
    "--shutdown-timeout",
    type=Duration(),
    help="How long running jobs get to finish on SIGTERM. Default: 30s.",
)
@option(
    "--heartbeat-interval",
    type=Duration(0.05),
    help="How often the worker writes its heartbeat. Default: 10s.",
)
@option(
    "--heartbeat-ttl",
    type=Duration(0.1),
    help="A worker silent this long is lost; its jobs are rescued. Default: 30s.",
)
@option(
    "--command-timeout",
    type=Duration(),
    help="How long one of pgqueue's own queries may take before it is abandoned (a stalled "
    "network); 0: never. Default: 30s.",
)
@click.option(
    "--import",
    "imports",
    multiple=True,
    metavar="MODULE",
    help="A module of tasks to import after MODULE:APP, e.g. myapp.billing (repeatable). "
    "Default: PGQUEUE_IMPORTS (comma-separated), else none.",
)
@option(
    "--processes",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes to run under a supervisor that restarts crashed ones.",
)
@option(
    "--restart-backoff-max",
    type=Duration(),
    default=10.0,
    show_default=True,
    help="With --processes: the longest wait before a crashed worker process is restarted.",
)
@option(
    "--loop",
    default="asyncio",
    show_default=True,
    type=click.Choice(["asyncio", "uvloop", "auto"]),
    help="Event loop: uvloop needs pip install 'pgqueue[uvloop]'; auto uses it when installed.",
)
@option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=LOG_LEVELS,
    help=f"Which log lines to print. {LOG_LEVEL_HELP}",
)
@option(
    "--log-format",
    default="text",
    show_default=True,
    type=click.Choice(["text", "json"]),
    help="text: one readable line per record; json: one JSON object per line.",
)
@ops_worker_options
def worker(
    app_spec: str,
    dsn: str | None,
    queues: tuple[str, ...],
    concurrency: int | None,
    poll_interval: float | None,
    no_listen: bool,
    burst: bool,
    shutdown_timeout: float | None,
    heartbeat_interval: float | None,
    heartbeat_ttl: float | None,
    command_timeout: float | None,
    imports: tuple[str, ...],
    processes: int,
    restart_backoff_max: float,
    loop: str,
    log_level: str,
    log_format: str,
    **ops: Any,
) -> None:
    """Run a worker for the tasks of MODULE:APP.

    MODULE:APP names the App, e.g. myapp.tasks:app (the attribute defaults to `app`); tasks
    defined in other modules are served when those modules are named with --import."""
    configure_logging(log_level, log_format)
    # Before any child starts: a bad MODULE:APP or bad settings fail once, clearly.
    app = load_app(app_spec, dsn=dsn, command_timeout=command_timeout)
    with errors_exit():
        from pgqueue.settings import WorkerSettings

        settings = WorkerSettings.from_env(
            queues=queues or None,
            concurrency=concurrency,
            poll_interval=poll_interval,
            shutdown_timeout=shutdown_timeout,
            listen=False if no_listen else None,
            heartbeat_interval=heartbeat_interval,
            heartbeat_ttl=heartbeat_ttl,
            imports=imports or None,
        )
        settings = apply_ops_options(settings, ops)
    # After the App, so that the modules' `@app.task`s register on it; a bad one is exit 2.
    load_modules(settings.imports, dsn=dsn, command_timeout=command_timeout)
    if processes > 1:
        if burst:
            # The supervisor restarts a child that exits; a burst child exits when done.
            fail(
                "--burst runs one process: drop --processes (or start several --burst workers)",
                EXIT_CONFIG,
            )
        from pgqueue._supervisor import Supervisor, child_command

        supervisor = Supervisor(
            child_command(sys.argv[1:]),
            processes,
            shutdown_timeout=settings.shutdown_timeout,
            restart_backoff_max=restart_backoff_max,
        )
        sys.exit(supervisor.run())
    index = os.environ.get("PGQUEUE_PROCESS_INDEX")
    if settings.metrics_port and index and index.isdigit():
        # Under --processes N, child i serves metrics on --metrics-port + i.
        settings = settings.with_(metrics_port=settings.metrics_port + int(index))

    async def serve() -> None:
        from pgqueue._supervisor import announce_serving
        from pgqueue._worker import run_until_signalled

        try:
            worker = app.worker(settings)
            worker.ops.on_serving.append(announce_serving)  # a no-op without a supervisor
            worker.ops.on_serving.append(lambda: log_tasks(app))
            # The start-up report opens the App: under the signal handling, so a SIGTERM while
            # the database is slow to answer stops the worker as at any other point of start-up.
            await run_until_signalled(
                worker, until_empty=burst, prelude=lambda: report_tasks(app, settings)
            )
        finally:
            await app.close()

    run_or_exit(serve, loop=loop)
    _exit_past_abandoned_threads()


def _exit_past_abandoned_threads() -> None:
    import logging
    import threading

    abandoned = [
        t for t in threading.enumerate() if t.name.startswith("pgqueue-sync") and t.is_alive()
    ]
    if abandoned:
        # Sync tasks still running past the shutdown timeout: their jobs are back in the queue
        # already, and Python would otherwise wait for the threads at exit.
        logging.getLogger("pgqueue.worker").warning(
            "exiting with %d sync task thread(s) still running; their jobs were requeued",
            len(abandoned),
        )
        logging.shutdown()
        os._exit(0)


@main.command()
@click.argument("task")
@dsn_option
@option(
    "--args",
    "args_json",
    default="[]",
    help="Positional arguments as a JSON array.",
)
@option(
    "--kwargs",
    "kwargs_json",
    default="{}",
    help="Keyword arguments as a JSON object.",
)
@option("--queue", default="default", envvar="PGQUEUE_QUEUE", show_default=True, help="The queue.")
@option(
    "--priority",
    type=int,
    default=0,
    show_default=True,
    help="Higher runs first.",
)
@option(
    "--delay",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds from now before the job may run.",
)
@option(
    "--max-attempts",
    type=click.IntRange(min=1),
    default=None,
    help="Attempts before the job is dead-lettered. Default: the task's (3).",
)
@option(
    "--unique-key",
    default=None,
    help="Enqueue nothing while a job with this key is waiting or running; print its id.",
)
def enqueue(
    task: str,
    dsn: str | None,
    args_json: str,
    kwargs_json: str,
    queue: str,
    priority: int,
    delay: float | None,
    max_attempts: int | None,
    unique_key: str | None,
) -> None:
    """Enqueue a job for TASK (by name) and print its id."""
    args = _json_option(args_json, "--args", list, "a JSON array, e.g. '[1, 2]'")
    kwargs = _json_option(kwargs_json, "--kwargs", dict, "a JSON object, e.g. '{\"x\": 1}'")
    app = open_app(dsn)
    try:
        from pgqueue._enqueue import encode_jobs
        from pgqueue.errors import PgQueueError

        request = app.request(
            task,
            args,
            kwargs,
            queue=queue,
            priority=priority,
            delay=delay,
            max_attempts=max_attempts,
            unique_key=unique_key,
            allow_unknown=True,  # the command has no App with tasks: the name is not checked
        )
        encode_jobs([request])  # a value the database cannot store: refused before connecting
    except (ValueError, PgQueueError) as exc:
        fail(str(exc), EXIT_CONFIG, exc)

    async def send() -> tuple[int, str | None]:
        async with app:
            [done] = await app.enqueue_requests([request])
            return done.id, await _unserved_warning(app, task, request.queue)

    job_id, warning = run_or_exit(send)
    click.echo(job_id)
    if warning is not None:  # the job is stored all the same: the exit code stays 0
        click.echo(warning, err=True)


async def _unserved_warning(app: App, task: str, queue: str) -> str | None:
    """The warning for a task no live worker of `queue` serves, best effort: the job is stored
    already, so a database that cannot say (a schema before 0010_worker_tasks) gets none."""
    from pgqueue._monitoring import Monitor
    from pgqueue.errors import PgQueueError

    try:
        coverage = await Monitor(app.repository).task_coverage(queue, task)
    except PgQueueError:
        return None
    return coverage.warning(task, queue)


def _json_option(text: str, name: str, kind: type, example: str) -> Any:
    from pgqueue import _serialization as serialization
    from pgqueue.errors import PgQueueError

    try:
        value = serialization.loads(text)
    except PgQueueError as exc:
        raise click.BadParameter(
            f"not valid JSON ({exc.__cause__})", param_hint=f"'{name}'"
        ) from exc
    if not isinstance(value, kind):
        raise click.BadParameter(f"{name} must be {example}")
    return value
