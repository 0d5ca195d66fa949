"""Core commands: migrate, worker, enqueue."""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

import click
from alembic.util.exc import CommandError

from pgqueue import serialization
from pgqueue.cli._common import (
    EXIT_CONFIG,
    EXIT_ERROR,
    configure_logging,
    dsn_option,
    fail,
    load_app,
    resolve_or_exit,
    run_or_exit,
)
from pgqueue.cli._ops_options import apply_ops_options, ops_worker_options
from pgqueue.cli.group import main
from pgqueue.client import App
from pgqueue.enqueue import encode_jobs
from pgqueue.errors import ConfigurationError, PgQueueError
from pgqueue.job import JobOptions
from pgqueue.settings import WorkerSettings


@main.command()
@dsn_option
@click.option(
    "--sql",
    "sql_only",
    is_flag=True,
    envvar="PGQUEUE_SQL",
    help="Print the DDL instead of running it (for a DBA).",
)
@click.option(
    "--revision",
    default="head",
    envvar="PGQUEUE_REVISION",
    show_default=True,
    help="Target revision.",
)
def migrate(dsn: str | None, sql_only: bool, revision: str) -> None:
    """Create or upgrade pgqueue's schema (Alembic revisions, schema `pgqueue`)."""
    from pgqueue import migrate as migrations

    if sql_only:
        click.echo(migrations.upgrade_sql(revision))
        return
    resolved = resolve_or_exit(dsn)

    async def check() -> None:
        from pgqueue.repository import connect

        conn = await connect(resolved)
        await conn.close()

    run_or_exit(check)  # a clear error for a bad host/password/database before Alembic's traceback
    try:
        migrations.upgrade(resolved, revision)
    except CommandError as exc:  # e.g. an unknown --revision
        fail(str(exc), EXIT_CONFIG, exc)
    except PgQueueError as exc:  # e.g. a role without CREATE on the database
        fail(str(exc), EXIT_ERROR, exc)
    click.echo(f"pgqueue schema is at {revision}")


@main.command()
@click.argument("app_spec", metavar="MODULE:APP", envvar="PGQUEUE_APP")
@dsn_option
@click.option(
    "--queue",
    "-q",
    "queues",
    multiple=True,
    envvar="PGQUEUE_QUEUE",
    show_envvar=True,
    help="Queue to serve (repeatable). Default: default.",
)
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(min=1),
    envvar="PGQUEUE_CONCURRENCY",
    show_envvar=True,
    help="Jobs run at once. Default: 10.",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.01),
    envvar="PGQUEUE_POLL_INTERVAL",
    show_envvar=True,
    help="Seconds between polls when no NOTIFY arrives. Default: 2.",
)
@click.option(
    "--no-listen",
    is_flag=True,
    envvar="PGQUEUE_NO_LISTEN",
    show_envvar=True,
    help="Poll only, without LISTEN (e.g. behind PgBouncer in transaction mode).",
)
@click.option(
    "--shutdown-timeout",
    type=click.FloatRange(min=0),
    envvar="PGQUEUE_SHUTDOWN_TIMEOUT",
    show_envvar=True,
    help="Seconds running jobs get to finish on SIGTERM. Default: 30.",
)
@click.option(
    "--heartbeat-interval",
    type=click.FloatRange(min=0.05),
    envvar="PGQUEUE_HEARTBEAT_INTERVAL",
    show_envvar=True,
    help="Seconds between heartbeats. Default: 10.",
)
@click.option(
    "--heartbeat-ttl",
    type=click.FloatRange(min=0.1),
    envvar="PGQUEUE_HEARTBEAT_TTL",
    show_envvar=True,
    help="A worker silent this long is dead; its jobs are rescued. Default: 30.",
)
@click.option(
    "--command-timeout",
    type=click.FloatRange(min=0),
    envvar="PGQUEUE_COMMAND_TIMEOUT",
    show_envvar=True,
    help="Seconds before one of pgqueue's own queries is abandoned (a stalled network); 0: never. Default: 30.",
)
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    default=1,
    envvar="PGQUEUE_PROCESSES",
    show_envvar=True,
    show_default=True,
    help="Worker processes to run under a supervisor that restarts crashed ones.",
)
@click.option(
    "--restart-backoff-max",
    type=click.FloatRange(min=0),
    default=10.0,
    envvar="PGQUEUE_RESTART_BACKOFF_MAX",
    show_envvar=True,
    show_default=True,
    help="--processes: longest wait, in seconds, before a crashed worker process is restarted.",
)
@click.option(
    "--loop",
    default="asyncio",
    envvar="PGQUEUE_LOOP",
    show_envvar=True,
    show_default=True,
    type=click.Choice(["asyncio", "uvloop", "auto"]),
    help="Event loop: uvloop needs pip install 'pgqueue[uvloop]'; auto uses it when installed.",
)
@click.option(
    "--log-level",
    default="INFO",
    envvar="PGQUEUE_LOG_LEVEL",
    show_envvar=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
@click.option(
    "--log-format",
    default="text",
    envvar="PGQUEUE_LOG_FORMAT",
    show_envvar=True,
    type=click.Choice(["text", "json"]),
)
@ops_worker_options
def worker(
    app_spec: str,
    dsn: str | None,
    queues: tuple[str, ...],
    concurrency: int | None,
    poll_interval: float | None,
    no_listen: bool,
    shutdown_timeout: float | None,
    heartbeat_interval: float | None,
    heartbeat_ttl: float | None,
    command_timeout: float | None,
    processes: int,
    restart_backoff_max: float,
    loop: str,
    log_level: str,
    log_format: str,
    **ops: Any,
) -> None:
    """Run a worker for the tasks of MODULE:APP."""
    from pgqueue.worker import run_until_signalled

    configure_logging(log_level, log_format)
    app = load_app(app_spec)  # before any child starts: a bad MODULE:APP fails once, clearly
    if command_timeout is not None:
        app.command_timeout = command_timeout or None
    if dsn:
        app.dsn = resolve_or_exit(dsn)
    try:
        settings = WorkerSettings.from_env(
            queues=queues or None,
            concurrency=concurrency,
            poll_interval=poll_interval,
            shutdown_timeout=shutdown_timeout,
            listen=False if no_listen else None,
            heartbeat_interval=heartbeat_interval,
            heartbeat_ttl=heartbeat_ttl,
        )
        settings = apply_ops_options(settings, ops)
    except ConfigurationError as exc:  # before any child starts too
        fail(str(exc), EXIT_CONFIG, exc)
    if processes > 1:
        from pgqueue.supervisor import Supervisor, child_command

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
        from pgqueue.supervisor import announce_serving

        try:
            worker = app.worker(settings)
            worker.ops.on_serving.append(announce_serving)  # a no-op without a supervisor
            await run_until_signalled(worker)
        finally:
            await app.close()

    run_or_exit(serve, loop=loop)
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
@click.option(
    "--args",
    "args_json",
    default="[]",
    envvar="PGQUEUE_ARGS",
    help="Positional arguments as a JSON array.",
)
@click.option(
    "--kwargs",
    "kwargs_json",
    default="{}",
    envvar="PGQUEUE_KWARGS",
    help="Keyword arguments as a JSON object.",
)
@click.option("--queue", default="default", envvar="PGQUEUE_QUEUE", show_default=True)
@click.option("--priority", type=int, default=0, envvar="PGQUEUE_PRIORITY", show_default=True)
@click.option(
    "--delay",
    type=click.FloatRange(min=0),
    default=None,
    envvar="PGQUEUE_DELAY",
    help="Seconds from now before the job may run.",
)
@click.option(
    "--max-attempts", type=click.IntRange(min=1), default=None, envvar="PGQUEUE_MAX_ATTEMPTS"
)
@click.option(
    "--unique-key",
    default=None,
    envvar="PGQUEUE_UNIQUE_KEY",
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
    app = App(resolve_or_exit(dsn))
    try:
        options = JobOptions(
            queue=queue,
            priority=priority,
            delay=delay,
            max_attempts=max_attempts,
            unique_key=unique_key,
        )
        request = options.request(task, args, kwargs)
        encode_jobs([request])  # a value the database cannot store: refused before connecting
    except (ValueError, PgQueueError) as exc:
        fail(str(exc), EXIT_CONFIG, exc)

    async def send() -> int:
        async with app:
            [done] = await app.enqueue_requests([request])
            return done.id

    click.echo(run_or_exit(send))


def _json_option(text: str, name: str, kind: type, example: str) -> Any:
    try:
        value = serialization.loads(text)
    except PgQueueError as exc:
        raise click.BadParameter(
            f"not valid JSON ({exc.__cause__})", param_hint=f"'{name}'"
        ) from exc
    if not isinstance(value, kind):
        raise click.BadParameter(f"{name} must be {example}")
    return value
